-- Alerts and their lifecycle (alerts/lifecycle). alerts holds the current
-- state of each alert, one version per change; alert_events is the
-- append-only history of every change, who made it and why.
CREATE TABLE IF NOT EXISTS netpulse.alerts
(
    id            String,
    rule          LowCardinality(String),
    kind          LowCardinality(String),
    dedup_key     String,
    severity      LowCardinality(String),
    unit          LowCardinality(String),
    title         String,
    state         LowCardinality(String),
    assignee      String,
    acked_by      String,
    acked_at      Nullable(DateTime64(3, 'UTC')),
    resolved_by   String,
    resolved_at   Nullable(DateTime64(3, 'UTC')),
    resolve_reason String,
    opened_at     DateTime64(3, 'UTC'),
    last_seen     DateTime64(3, 'UTC'),
    occurrences   UInt32,
    escalated     UInt8,
    suppressed_by String,
    feedback      LowCardinality(String),
    payload       String,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY id;

CREATE TABLE IF NOT EXISTS netpulse.alert_events
(
    alert_id String,
    at       DateTime64(3, 'UTC'),
    action   LowCardinality(String),
    actor    String,
    detail   String,
    seq      UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, at, seq);

CREATE TABLE IF NOT EXISTS netpulse.alert_silences
(
    id         String,
    matchers   String,
    comment    String,
    created_by String,
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    deleted    UInt8,
    version    UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- Rules created through the API (file rules live in their files).
CREATE TABLE IF NOT EXISTS netpulse.alert_rules
(
    name       String,
    yaml       String,
    created_by String,
    updated_at DateTime64(3, 'UTC'),
    deleted    UInt8,
    version    UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name;

-- Per-rule evaluation cursors and firing keys, so that a restart neither
-- re-fires nor forgets.
CREATE TABLE IF NOT EXISTS netpulse.alert_rule_state
(
    rule    String,
    key     String,
    value   String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (rule, key);

-- Notifications that failed every retry.
CREATE TABLE IF NOT EXISTS netpulse.notify_dead_letters
(
    id        String,
    channel   LowCardinality(String),
    target    String,
    alert_id  String,
    body      String,
    error     String,
    attempts  UInt32,
    failed_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (failed_at, id);
