-- Venue access records, one row per record id. A record id is a keyed hash
-- of venue, document, place and start, so a resent record or a replay of
-- raw.access lands on the same key and ReplacingMergeTree keeps one row.
-- version is the arrival time in ms with bit 42 set once the record carries
-- its end: the session-end update wins over the open record and keeps its
-- start (the start is part of the id). Readers that need exactness use FINAL.
--
-- Retention: retain_until is computed per kind by intake (configurable per
-- kind, never under 60 days). held is set for venues or cases under legal
-- hold, by the pipeline on insert and by ALTER UPDATE when a hold is set;
-- the TTL deletes only rows that are not held.
CREATE TABLE IF NOT EXISTS netpulse.access_records
(
    record_id    String,
    venue        LowCardinality(String),
    kind         LowCardinality(String),
    place        String,
    id_type      LowCardinality(String),
    id_hash      String,
    id_enc       String,
    id_masked    String,
    name         String,
    started_at   DateTime64(3, 'UTC'),
    ended_at     DateTime64(3, 'UTC') DEFAULT 0,
    ip           String DEFAULT '',
    mac          String DEFAULT '',
    party_size   UInt16 DEFAULT 0,
    received_at  DateTime64(3, 'UTC'),
    batch_id     String,
    version      UInt64,
    retain_until DateTime64(3, 'UTC'),
    held         UInt8 DEFAULT 0,
    INDEX idx_id_hash id_hash TYPE bloom_filter GRANULARITY 4,
    INDEX idx_name name TYPE ngrambf_v1(3, 4096, 2, 0) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (venue, started_at, record_id)
TTL toDateTime(retain_until) DELETE WHERE held = 0;

-- Cases under legal hold by person: every record of these identity hashes
-- is held regardless of venue.
CREATE TABLE IF NOT EXISTS netpulse.record_holds
(
    id_hash    String,
    case_ref   String,
    set_by     String,
    set_at     DateTime64(3, 'UTC'),
    active     UInt8
)
ENGINE = ReplacingMergeTree(set_at)
ORDER BY (id_hash, case_ref);
