-- A copy of the venue registry (dashboards/access), synced periodically so
-- that reports and record search can join on district and unit.
CREATE TABLE IF NOT EXISTS netpulse.venues
(
    code       String,
    kind       LowCardinality(String),
    name       String,
    district   String,
    unit       String,
    legal_hold UInt8,
    revoked    UInt8,
    synced_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(synced_at)
ORDER BY code;
