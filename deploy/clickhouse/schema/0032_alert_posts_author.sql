-- Topic alerts count distinct authors among a burst's posts (alerts/trends
-- impact); the term counter keeps the author as published.
ALTER TABLE netpulse.alert_posts ADD COLUMN IF NOT EXISTS author String DEFAULT '';
