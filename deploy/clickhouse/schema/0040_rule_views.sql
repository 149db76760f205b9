-- Views that threshold rules may read instead of personal tables. A rule's
-- SQL may name only non-personal tables (alerts/rules/sqlguard.go); this view
-- gives it delivery tallies per venue and minute without a guest column.
CREATE VIEW IF NOT EXISTS netpulse.record_deliveries AS
SELECT venue, kind, toStartOfMinute(received_at) AS minute, batch_id, count() AS records
FROM netpulse.access_records
GROUP BY venue, kind, minute, batch_id;
