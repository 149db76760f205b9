// Package multinode tests netpulse scaled out: several `netpulse serve`
// processes on loopback sharing one real Kafka broker, each with its own
// embedded ClickHouse (chDB), in their roles. The tests are the package;
// this file only documents it.
//
// What a single machine can and cannot show is in docs/sizing.md: there is
// no ClickHouse server here, so each node writes to its own chDB and the
// checks run over the union of the nodes' stores.
package multinode
