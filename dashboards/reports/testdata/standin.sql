-- Stand-in for the one upstream table the report reads that no schema file
-- defines yet: collectors/feeds keeps crawl-run health in bbolt
-- (collectors/feeds/health.go), not in ClickHouse. IF NOT EXISTS, so a real
-- netpulse.crawl_runs, once shipped, is used instead. Columns are only those
-- the report reads.
CREATE TABLE IF NOT EXISTS netpulse.crawl_runs
(
    source     LowCardinality(String),
    started_at DateTime64(3, 'UTC'),
    ok         UInt8,
    posts      UInt32,
    error      String
)
ENGINE = MergeTree
ORDER BY (source, started_at);
