-- Public posts, one row per post id. Replays of raw.posts insert the same
-- id again; ReplacingMergeTree keeps the latest fetch (by fetched_at), and
-- readers that need exactness use FINAL.
CREATE TABLE IF NOT EXISTS netpulse.posts
(
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
ENGINE = ReplacingMergeTree(fetched_at)
PARTITION BY toYYYYMM(published_at)
ORDER BY id;
