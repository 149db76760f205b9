-- Generated from deploy/clickhouse/schema by store.ClusterSchema; do not edit.
-- Regenerate: go test ./deploy -run TestClusterSchema -update
-- serve applies the same statements itself when --clickhouse-cluster is set.

CREATE DATABASE IF NOT EXISTS netpulse ON CLUSTER 'netpulse' ;

CREATE TABLE IF NOT EXISTS netpulse.schema_migrations_local ON CLUSTER 'netpulse' (
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/schema_migrations', '{replica}', applied_at)

ORDER BY version;

CREATE TABLE IF NOT EXISTS netpulse.schema_migrations ON CLUSTER 'netpulse' AS netpulse.schema_migrations_local ENGINE = Distributed('netpulse', netpulse, schema_migrations_local, cityHash64(version));

CREATE TABLE IF NOT EXISTS netpulse.access_records_local ON CLUSTER 'netpulse' (
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/access_records', '{replica}', version)

PARTITION BY toYYYYMM(started_at)
ORDER BY (venue, started_at, record_id)
TTL toDateTime(retain_until) DELETE WHERE held = 0;

CREATE TABLE IF NOT EXISTS netpulse.access_records ON CLUSTER 'netpulse' AS netpulse.access_records_local ENGINE = Distributed('netpulse', netpulse, access_records_local, cityHash64(venue, started_at, record_id));

CREATE TABLE IF NOT EXISTS netpulse.record_holds_local ON CLUSTER 'netpulse' (
    id_hash    String,
    case_ref   String,
    set_by     String,
    set_at     DateTime64(3, 'UTC'),
    active     UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/record_holds', '{replica}', set_at)

ORDER BY (id_hash, case_ref);

CREATE TABLE IF NOT EXISTS netpulse.record_holds ON CLUSTER 'netpulse' AS netpulse.record_holds_local ENGINE = Distributed('netpulse', netpulse, record_holds_local, cityHash64(id_hash, case_ref));

CREATE TABLE IF NOT EXISTS netpulse.intake_quarantine_local ON CLUSTER 'netpulse' (
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/intake_quarantine', '{replica}', version)

PARTITION BY toYYYYMM(received_at)
ORDER BY (venue, batch_id, row)
TTL toDateTime(received_at) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS netpulse.intake_quarantine ON CLUSTER 'netpulse' AS netpulse.intake_quarantine_local ENGINE = Distributed('netpulse', netpulse, intake_quarantine_local, cityHash64(venue, batch_id, row));

CREATE TABLE IF NOT EXISTS netpulse.venues_local ON CLUSTER 'netpulse' (
    code       String,
    kind       LowCardinality(String),
    name       String,
    district   String,
    unit       String,
    legal_hold UInt8,
    revoked    UInt8,
    synced_at  DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/venues', '{replica}', synced_at)

ORDER BY code;

CREATE TABLE IF NOT EXISTS netpulse.venues ON CLUSTER 'netpulse' AS netpulse.venues_local ENGINE = Distributed('netpulse', netpulse, venues_local, cityHash64(code));

CREATE TABLE IF NOT EXISTS netpulse.audit_log_local ON CLUSTER 'netpulse' (
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/netpulse/audit_log', '{replica}')
ORDER BY seq;

CREATE TABLE IF NOT EXISTS netpulse.audit_log ON CLUSTER 'netpulse' AS netpulse.audit_log_local ENGINE = Distributed('netpulse', netpulse, audit_log_local, cityHash64(seq));

ALTER TABLE netpulse.audit_log_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS chain String DEFAULT '' FIRST;

ALTER TABLE netpulse.audit_log ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS chain String DEFAULT '' FIRST;

ALTER TABLE netpulse.access_records_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS guardian_contact String DEFAULT '' AFTER party_size;

ALTER TABLE netpulse.access_records ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS guardian_contact String DEFAULT '' AFTER party_size;

ALTER TABLE netpulse.access_records_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS guardian_relation String DEFAULT '' AFTER guardian_contact;

ALTER TABLE netpulse.access_records ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS guardian_relation String DEFAULT '' AFTER guardian_contact;

ALTER TABLE netpulse.audit_log_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS hash_v UInt8 DEFAULT 1;

ALTER TABLE netpulse.audit_log ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS hash_v UInt8 DEFAULT 1;

ALTER TABLE netpulse.access_records_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS name_hash String DEFAULT '' AFTER name;

ALTER TABLE netpulse.access_records ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS name_hash String DEFAULT '' AFTER name;

ALTER TABLE netpulse.access_records_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS name_enc String DEFAULT '' AFTER name_hash;

ALTER TABLE netpulse.access_records ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS name_enc String DEFAULT '' AFTER name_hash;

ALTER TABLE netpulse.access_records_local ON CLUSTER 'netpulse' ADD INDEX IF NOT EXISTS idx_name_hash name_hash TYPE bloom_filter GRANULARITY 4;

ALTER TABLE netpulse.access_records ON CLUSTER 'netpulse' ADD INDEX IF NOT EXISTS idx_name_hash name_hash TYPE bloom_filter GRANULARITY 4;

ALTER TABLE netpulse.intake_quarantine_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS id_hash String DEFAULT '';

ALTER TABLE netpulse.intake_quarantine ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS id_hash String DEFAULT '';

ALTER TABLE netpulse.intake_quarantine_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS name_hash String DEFAULT '';

ALTER TABLE netpulse.intake_quarantine ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS name_hash String DEFAULT '';

CREATE TABLE IF NOT EXISTS netpulse.posts_local ON CLUSTER 'netpulse' (
    id           String,
    source       LowCardinality(String),
    url          String,
    title        String,
    body         String,
    author       String,
    published_at DateTime64(3, 'UTC'),
    fetched_at   DateTime64(3, 'UTC'),
    cluster_id   UInt64,
    lang         LowCardinality(String),
    analyzer     LowCardinality(String) DEFAULT '',
    tokens       Array(String) DEFAULT []
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/posts', '{replica}', fetched_at)

PARTITION BY toYYYYMM(published_at)
ORDER BY id;

CREATE TABLE IF NOT EXISTS netpulse.posts ON CLUSTER 'netpulse' AS netpulse.posts_local ENGINE = Distributed('netpulse', netpulse, posts_local, cityHash64(id));

CREATE TABLE IF NOT EXISTS netpulse.crawl_runs_local ON CLUSTER 'netpulse' (
    source               LowCardinality(String),
    started_at           DateTime64(3, 'UTC'),
    ok                   UInt8,
    posts                UInt32,
    error                String,
    node                 LowCardinality(String) DEFAULT '',
    duration_ms          UInt32 DEFAULT 0,
    pages                UInt32 DEFAULT 0,
    not_modified         UInt32 DEFAULT 0,
    seen                 UInt32 DEFAULT 0,
    robots               UInt32 DEFAULT 0,
    failed               UInt32 DEFAULT 0,
    old                  UInt32 DEFAULT 0,
    consecutive_failures UInt32 DEFAULT 0
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/netpulse/crawl_runs', '{replica}')
PARTITION BY toYYYYMM(started_at)
ORDER BY (source, started_at)
TTL toDateTime(started_at) + INTERVAL 400 DAY;

CREATE TABLE IF NOT EXISTS netpulse.crawl_runs ON CLUSTER 'netpulse' AS netpulse.crawl_runs_local ENGINE = Distributed('netpulse', netpulse, crawl_runs_local, cityHash64(source));

CREATE TABLE IF NOT EXISTS netpulse.term_mentions_local ON CLUSTER 'netpulse' (
    bucket_seconds UInt32,
    bucket         DateTime('UTC'),
    term           String,
    cluster        UInt64,
    post_id        String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/term_mentions', '{replica}')
PARTITION BY toYYYYMMDD(bucket)
ORDER BY (bucket_seconds, bucket, term, post_id)
TTL bucket + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS netpulse.term_mentions ON CLUSTER 'netpulse' AS netpulse.term_mentions_local ENGINE = Distributed('netpulse', netpulse, term_mentions_local, cityHash64(bucket_seconds, bucket, term, post_id));

CREATE TABLE IF NOT EXISTS netpulse.term_counts_local ON CLUSTER 'netpulse' (
    bucket_seconds UInt32,
    bucket         DateTime('UTC'),
    term           String,
    clusters       AggregateFunction(uniqExact, UInt64),
    mentions       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/netpulse/term_counts', '{replica}')
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket_seconds, bucket, term)
TTL bucket + INTERVAL 400 DAY;

CREATE TABLE IF NOT EXISTS netpulse.term_counts ON CLUSTER 'netpulse' AS netpulse.term_counts_local ENGINE = Distributed('netpulse', netpulse, term_counts_local, cityHash64(bucket_seconds, bucket, term));

CREATE MATERIALIZED VIEW IF NOT EXISTS netpulse.term_counts_mv ON CLUSTER 'netpulse' TO netpulse.term_counts_local AS
SELECT bucket_seconds, bucket, term, uniqExactState(cluster) AS clusters, toUInt64(count()) AS mentions
FROM netpulse.term_mentions_local
GROUP BY bucket_seconds, bucket, term;

CREATE TABLE IF NOT EXISTS netpulse.term_first_seen_local ON CLUSTER 'netpulse' (
    term       String,
    first_seen SimpleAggregateFunction(min, DateTime('UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/netpulse/term_first_seen', '{replica}')
ORDER BY term;

CREATE TABLE IF NOT EXISTS netpulse.term_first_seen ON CLUSTER 'netpulse' AS netpulse.term_first_seen_local ENGINE = Distributed('netpulse', netpulse, term_first_seen_local, cityHash64(term));

CREATE MATERIALIZED VIEW IF NOT EXISTS netpulse.term_first_seen_mv ON CLUSTER 'netpulse' TO netpulse.term_first_seen_local AS
SELECT term, min(bucket) AS first_seen
FROM netpulse.term_mentions_local
GROUP BY term;

CREATE TABLE IF NOT EXISTS netpulse.alert_posts_local ON CLUSTER 'netpulse' (
    id           String,
    source       LowCardinality(String),
    url          String,
    title        String,
    body         String,
    published_at DateTime64(3, 'UTC'),
    seen_at      DateTime64(3, 'UTC'),
    cluster      UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/alert_posts', '{replica}', seen_at)

PARTITION BY toYYYYMMDD(seen_at)
ORDER BY id
TTL toDateTime(seen_at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS netpulse.alert_posts ON CLUSTER 'netpulse' AS netpulse.alert_posts_local ENGINE = Distributed('netpulse', netpulse, alert_posts_local, cityHash64(id));

CREATE TABLE IF NOT EXISTS netpulse.term_scores_local ON CLUSTER 'netpulse' (
    bucket_seconds UInt32,
    bucket         DateTime('UTC'),
    term           String,
    count          UInt32,
    score          Float32,
    alert          UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/term_scores', '{replica}')
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket_seconds, term, bucket)
TTL bucket + INTERVAL 400 DAY;

CREATE TABLE IF NOT EXISTS netpulse.term_scores ON CLUSTER 'netpulse' AS netpulse.term_scores_local ENGINE = Distributed('netpulse', netpulse, term_scores_local, cityHash64(bucket_seconds, term, bucket));

CREATE TABLE IF NOT EXISTS netpulse.alerts_local ON CLUSTER 'netpulse' (
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/alerts', '{replica}', version)

PARTITION BY toYYYYMM(opened_at)
ORDER BY id;

CREATE TABLE IF NOT EXISTS netpulse.alerts ON CLUSTER 'netpulse' AS netpulse.alerts_local ENGINE = Distributed('netpulse', netpulse, alerts_local, cityHash64(id));

CREATE TABLE IF NOT EXISTS netpulse.alert_events_local ON CLUSTER 'netpulse' (
    alert_id String,
    at       DateTime64(3, 'UTC'),
    action   LowCardinality(String),
    actor    String,
    detail   String,
    seq      UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/netpulse/alert_events', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, at, seq);

CREATE TABLE IF NOT EXISTS netpulse.alert_events ON CLUSTER 'netpulse' AS netpulse.alert_events_local ENGINE = Distributed('netpulse', netpulse, alert_events_local, cityHash64(alert_id, at, seq));

CREATE TABLE IF NOT EXISTS netpulse.alert_silences_local ON CLUSTER 'netpulse' (
    id         String,
    matchers   String,
    comment    String,
    created_by String,
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    deleted    UInt8,
    version    UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/alert_silences', '{replica}', version)

ORDER BY id;

CREATE TABLE IF NOT EXISTS netpulse.alert_silences ON CLUSTER 'netpulse' AS netpulse.alert_silences_local ENGINE = Distributed('netpulse', netpulse, alert_silences_local, cityHash64(id));

CREATE TABLE IF NOT EXISTS netpulse.alert_rules_local ON CLUSTER 'netpulse' (
    name       String,
    yaml       String,
    created_by String,
    updated_at DateTime64(3, 'UTC'),
    deleted    UInt8,
    version    UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/alert_rules', '{replica}', version)

ORDER BY name;

CREATE TABLE IF NOT EXISTS netpulse.alert_rules ON CLUSTER 'netpulse' AS netpulse.alert_rules_local ENGINE = Distributed('netpulse', netpulse, alert_rules_local, cityHash64(name));

CREATE TABLE IF NOT EXISTS netpulse.alert_rule_state_local ON CLUSTER 'netpulse' (
    rule    String,
    key     String,
    value   String,
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netpulse/alert_rule_state', '{replica}', version)

ORDER BY (rule, key);

CREATE TABLE IF NOT EXISTS netpulse.alert_rule_state ON CLUSTER 'netpulse' AS netpulse.alert_rule_state_local ENGINE = Distributed('netpulse', netpulse, alert_rule_state_local, cityHash64(rule, key));

CREATE TABLE IF NOT EXISTS netpulse.notify_dead_letters_local ON CLUSTER 'netpulse' (
    id        String,
    channel   LowCardinality(String),
    target    String,
    alert_id  String,
    body      String,
    error     String,
    attempts  UInt32,
    failed_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/netpulse/notify_dead_letters', '{replica}')
PARTITION BY toYYYYMM(failed_at)
ORDER BY (failed_at, id);

CREATE TABLE IF NOT EXISTS netpulse.notify_dead_letters ON CLUSTER 'netpulse' AS netpulse.notify_dead_letters_local ENGINE = Distributed('netpulse', netpulse, notify_dead_letters_local, cityHash64(failed_at, id));

ALTER TABLE netpulse.alert_posts_local ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS author String DEFAULT '';

ALTER TABLE netpulse.alert_posts ON CLUSTER 'netpulse' ADD COLUMN IF NOT EXISTS author String DEFAULT '';

CREATE VIEW IF NOT EXISTS netpulse.record_deliveries ON CLUSTER 'netpulse' AS
SELECT venue, kind, toStartOfMinute(received_at) AS minute, batch_id, count() AS records
FROM netpulse.access_records
GROUP BY venue, kind, minute, batch_id;

