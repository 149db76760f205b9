// Package deploy holds what an installation needs besides the binary: the
// ClickHouse schema (embedded here so that serve applies it at start-up),
// Kafka topic specs, compose, systemd and Kubernetes files, and config
// samples.
package deploy

import (
	"embed"
	"io/fs"
)

//go:embed clickhouse/schema/*.sql
var schemaFS embed.FS

// Schema returns the single-node ClickHouse schema files, NNNN_name.sql.
func Schema() fs.FS {
	sub, err := fs.Sub(schemaFS, "clickhouse/schema")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder
	}
	return sub
}

//go:embed kafka/topics.yaml
var kafkaTopics []byte

// KafkaTopics returns deploy/kafka/topics.yaml, the one spec of every Kafka
// topic netpulse uses (parsed by kafkabus.ParseTopics).
func KafkaTopics() []byte { return kafkaTopics }
