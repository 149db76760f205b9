-- Append-only audit of every search and reveal of personal data. Entries
-- are chained: hash = HMAC(audit key, prev_hash || entry), so an edited,
-- removed or inserted entry breaks verification from that point on. No TTL:
-- the log outlives the records it describes.
CREATE TABLE IF NOT EXISTS netpulse.audit_log
(
    seq       UInt64,
    at        DateTime64(3, 'UTC'),
    actor     String,
    role      LowCardinality(String),
    action    LowCardinality(String),
    case_ref  String,
    filter    String,
    rows      UInt64,
    outcome   LowCardinality(String),
    prev_hash String,
    hash      String
)
ENGINE = MergeTree
ORDER BY seq;
