-- One row per crawl run of one feed source, written by the crawler
-- (collectors/feeds) on whichever node ran it, so that every node reads the
-- same source health and the reports compute the crawl success rate.
-- source, started_at, ok, posts and error are what the reports read; the
-- page counts and consecutive_failures (failed runs since the last success,
-- this run included) let a node that takes over a source continue its
-- failure streak. Runs are a few per source per minute at most; after
-- 400 days they only weigh on the health totals, which cover what is kept.
-- shard-key: cityHash64(source)
CREATE TABLE IF NOT EXISTS netpulse.crawl_runs
(
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
ENGINE = MergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (source, started_at)
TTL toDateTime(started_at) + INTERVAL 400 DAY;
