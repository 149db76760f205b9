-- Term counts for burst detection (alerts/terms, alerts/trends).
-- term_mentions holds one row per (post, distinct term), stamped with the
-- bucket the counter put it in; replays of raw.posts insert the same rows
-- again, which is harmless because every count below is a distinct count of
-- near-duplicate clusters, never a row count.
CREATE TABLE IF NOT EXISTS netpulse.term_mentions
(
    bucket_seconds UInt32,
    bucket         DateTime('UTC'),
    term           String,
    cluster        UInt64,
    post_id        String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(bucket)
ORDER BY (bucket_seconds, bucket, term, post_id)
TTL bucket + INTERVAL 30 DAY;

-- Per bucket and term, the set of clusters that mentioned it, pre-aggregated
-- on insert so that a bucket pass reads one row per term.
CREATE TABLE IF NOT EXISTS netpulse.term_counts
(
    bucket_seconds UInt32,
    bucket         DateTime('UTC'),
    term           String,
    clusters       AggregateFunction(uniqExact, UInt64),
    mentions       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket_seconds, bucket, term)
TTL bucket + INTERVAL 400 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS netpulse.term_counts_mv TO netpulse.term_counts AS
SELECT bucket_seconds, bucket, term, uniqExactState(cluster) AS clusters, toUInt64(count()) AS mentions
FROM netpulse.term_mentions
GROUP BY bucket_seconds, bucket, term;

-- When each term was first counted: the memory of the new_term rule, kept
-- by ClickHouse so that it survives restarts.
CREATE TABLE IF NOT EXISTS netpulse.term_first_seen
(
    term       String,
    first_seen SimpleAggregateFunction(min, DateTime('UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY term;

CREATE MATERIALIZED VIEW IF NOT EXISTS netpulse.term_first_seen_mv TO netpulse.term_first_seen AS
SELECT term, min(bucket) AS first_seen
FROM netpulse.term_mentions
GROUP BY term;

-- The posts the counter saw, for sample posts in topic alerts and for the
-- keyword, frequency and spike rules (which must not depend on the search
-- index being up).
CREATE TABLE IF NOT EXISTS netpulse.alert_posts
(
    id           String,
    source       LowCardinality(String),
    url          String,
    title        String,
    body         String,
    published_at DateTime64(3, 'UTC'),
    seen_at      DateTime64(3, 'UTC'),
    cluster      UInt64
)
ENGINE = ReplacingMergeTree(seen_at)
PARTITION BY toYYYYMMDD(seen_at)
ORDER BY id
TTL toDateTime(seen_at) + INTERVAL 30 DAY;

-- Per bucket, the detector score of every term that scored at least 0.2,
-- for the term history page.
CREATE TABLE IF NOT EXISTS netpulse.term_scores
(
    bucket_seconds UInt32,
    bucket         DateTime('UTC'),
    term           String,
    count          UInt32,
    score          Float32,
    alert          UInt8
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket_seconds, term, bucket)
TTL bucket + INTERVAL 400 DAY;
