-- Rows refused at intake, kept for the venue operator to fix and resubmit.
-- The submitted fields are stored AES-GCM encrypted (they hold identity
-- numbers); errors is a JSON array of {row, field, reason}. Each fix or
-- resubmission inserts a newer version of the same (venue, batch_id, row).
CREATE TABLE IF NOT EXISTS netpulse.intake_quarantine
(
    venue          LowCardinality(String),
    batch_id       String,
    row            UInt32,
    received_at    DateTime64(3, 'UTC'),
    input_enc      String,
    errors         String,
    status         LowCardinality(String),
    resolved_batch String DEFAULT '',
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(received_at)
ORDER BY (venue, batch_id, row)
TTL toDateTime(received_at) + INTERVAL 90 DAY;
