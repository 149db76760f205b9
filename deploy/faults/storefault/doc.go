// Package storefault proves, in one process around the real embedded
// ClickHouse (chDB), that the pipeline survives a store that fails its
// inserts: nothing is committed on the bus until the rows are stored, the
// writer retries, and nothing is lost or duplicated. It also proves
// retention and legal hold against the real TTL. It holds only tests.
package storefault
