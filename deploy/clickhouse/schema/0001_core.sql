-- Core objects: the database and the migration ledger.
-- Every statement here and in later files is idempotent; the store applies
-- all files on each start (see pipeline/store/migrate.go).
CREATE DATABASE IF NOT EXISTS netpulse;

CREATE TABLE IF NOT EXISTS netpulse.schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version;
