package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/kafkabus"
	"github.com/netpulse/netpulse/pipeline/kvtopic"
	"github.com/netpulse/netpulse/pipeline/ownership"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

var update = flag.Bool("update", false, "rewrite golden files")

var engine *chdb.Backend

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "deploy-test-")
	if err != nil {
		panic(err)
	}
	engine, err = chdb.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	engine.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestClusterSchema keeps deploy/clickhouse/cluster/schema.sql equal to the
// rewrite of the single-node schema, and has the real ClickHouse parser
// (chDB's EXPLAIN AST) accept every statement of it.
func TestClusterSchema(t *testing.T) {
	stmts, err := store.ClusterSchema(deploy.Schema(), "netpulse")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("-- Generated from deploy/clickhouse/schema by store.ClusterSchema; do not edit.\n")
	b.WriteString("-- Regenerate: go test ./deploy -run TestClusterSchema -update\n")
	b.WriteString("-- serve applies the same statements itself when --clickhouse-cluster is set.\n\n")
	for _, s := range stmts {
		b.WriteString(s)
		b.WriteString(";\n\n")
	}
	golden := filepath.Join("clickhouse", "cluster", "schema.sql")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != b.String() {
		t.Errorf("%s is stale: run go test ./deploy -run TestClusterSchema -update", golden)
	}
	replicated, distributed := 0, 0
	for _, s := range stmts {
		if strings.Contains(s, "ENGINE = Replicated") {
			replicated++
		}
		if strings.Contains(s, "ENGINE = Distributed(") {
			distributed++
		}
		if err := engine.Exec(context.Background(), "EXPLAIN AST "+s); err != nil {
			t.Errorf("ClickHouse does not parse:\n%s\n%v", s, err)
		}
	}
	if replicated == 0 || replicated != distributed {
		t.Errorf("%d replicated tables and %d distributed ones; want equal and positive", replicated, distributed)
	}
}

func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
	return docs
}

func TestCompose(t *testing.T) {
	docs := readYAML(t, "compose/docker-compose.yaml")
	services := docs[0]["services"].(map[string]any)
	count := func(prefix string) int {
		n := 0
		for name := range services {
			if strings.HasPrefix(name, prefix) {
				n++
			}
		}
		return n
	}
	if got := count("kafka"); got != 3 {
		t.Errorf("%d Kafka brokers, want 3", got)
	}
	if got := count("ch-"); got != 4 {
		t.Errorf("%d ClickHouse servers, want 2 shards x 2 replicas", got)
	}
	if _, ok := services["keeper"]; !ok {
		t.Error("no ClickHouse Keeper")
	}
	roles := map[string]bool{}
	for name, s := range services {
		svc := s.(map[string]any)
		if strings.HasPrefix(name, "kafka") {
			env := svc["environment"].(map[string]any)
			if env["KAFKA_PROCESS_ROLES"] != "broker,controller" || env["KAFKA_MIN_INSYNC_REPLICAS"] != "2" {
				t.Errorf("%s: not a KRaft broker with min.insync.replicas 2: %v", name, env)
			}
		}
		cmd, _ := svc["command"].([]any)
		for i, c := range cmd {
			if c == "--roles" && i+1 < len(cmd) {
				for _, r := range strings.Split(cmd[i+1].(string), ",") {
					roles[r] = true
				}
			}
		}
	}
	for _, r := range []string{"intake", "process", "crawl", "api"} {
		if !roles[r] {
			t.Errorf("no netpulse node runs role %s", r)
		}
	}
	var cfg struct {
		Shards []struct {
			Replicas []struct {
				Host string `xml:"host"`
			} `xml:"replica"`
		} `xml:"remote_servers>netpulse>shard"`
		Shard struct {
			FromEnv string `xml:"from_env,attr"`
		} `xml:"macros>shard"`
		Replica struct {
			FromEnv string `xml:"from_env,attr"`
		} `xml:"macros>replica"`
	}
	b, err := os.ReadFile("compose/clickhouse/cluster.xml")
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Shards) != 2 || len(cfg.Shards[0].Replicas) != 2 || len(cfg.Shards[1].Replicas) != 2 {
		t.Errorf("cluster.xml: %+v, want 2 shards x 2 replicas", cfg.Shards)
	}
	for _, sh := range cfg.Shards {
		for _, r := range sh.Replicas {
			if _, ok := services[r.Host]; !ok {
				t.Errorf("cluster.xml names %s, which compose does not run", r.Host)
			}
		}
	}
	if cfg.Shard.FromEnv == "" || cfg.Replica.FromEnv == "" {
		t.Error("cluster.xml macros do not come from the environment")
	}
	for _, f := range []string{"compose/clickhouse/keeper.xml", "compose/clickhouse/users.xml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var any struct{}
		if err := xml.Unmarshal(b, &any); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestKubernetes(t *testing.T) {
	docs := readYAML(t, "k8s/netpulse.yaml")
	kinds := map[string]int{}
	for i, d := range docs {
		meta, _ := d["metadata"].(map[string]any)
		if d["apiVersion"] == nil || d["kind"] == nil || meta["name"] == nil {
			t.Errorf("document %d lacks apiVersion, kind or metadata.name", i)
			continue
		}
		kinds[d["kind"].(string)]++
		if d["kind"] == "Secret" && d["data"] != nil {
			t.Errorf("secret %v carries data in the repository", meta["name"])
		}
		spec, _ := d["spec"].(map[string]any)
		tmpl, _ := spec["template"].(map[string]any)
		if tmpl == nil {
			continue
		}
		pod := tmpl["spec"].(map[string]any)
		for _, c := range pod["containers"].([]any) {
			args := c.(map[string]any)["args"].([]any)
			if len(args) < 3 || args[0] != "serve" || args[1] != "--roles" {
				t.Errorf("%v: container args %v, want serve --roles ROLE", meta["name"], args)
			}
		}
	}
	for _, k := range []string{"Deployment", "StatefulSet", "Service", "ConfigMap"} {
		if kinds[k] == 0 {
			t.Errorf("no %s", k)
		}
	}
}

func TestSystemdUnits(t *testing.T) {
	for _, f := range []string{"systemd/netpulse.service", "systemd/netpulse-agent@.service"} {
		t.Run(f, func(t *testing.T) {
			file, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			sections := map[string]map[string]string{}
			cur := ""
			sc := bufio.NewScanner(file)
			for n := 1; sc.Scan(); n++ {
				line := strings.TrimSpace(sc.Text())
				switch {
				case line == "" || strings.HasPrefix(line, "#"):
				case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
					cur = strings.Trim(line, "[]")
					sections[cur] = map[string]string{}
				default:
					k, v, ok := strings.Cut(line, "=")
					if !ok || cur == "" {
						t.Fatalf("line %d: %q is not key=value inside a section", n, line)
					}
					sections[cur][k] = v
				}
			}
			for _, s := range []string{"Unit", "Service", "Install"} {
				if sections[s] == nil {
					t.Errorf("no [%s] section", s)
				}
			}
			exec := strings.Fields(sections["Service"]["ExecStart"])
			if len(exec) < 2 || exec[0] != "/usr/local/bin/netpulse" || !slices.Contains([]string{"serve", "agent"}, exec[1]) {
				t.Errorf("ExecStart = %v", exec)
			}
		})
	}
}

func TestKafkaTopics(t *testing.T) {
	var spec struct {
		Topics []struct {
			Name              string            `yaml:"name"`
			Partitions        int               `yaml:"partitions"`
			ReplicationFactor int               `yaml:"replication_factor"`
			Key               string            `yaml:"key"`
			Config            map[string]string `yaml:"config"`
		} `yaml:"topics"`
	}
	b, err := os.ReadFile("kafka/topics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tp := range spec.Topics {
		names[tp.Name] = true
		if tp.ReplicationFactor != 3 || tp.Config["min.insync.replicas"] != "2" || tp.Key == "" || tp.Partitions < 1 {
			t.Errorf("topic %s: %+v, want rf 3, min.insync.replicas 2 and a key", tp.Name, tp)
		}
		// A compacted topic keeps every key's latest value for good;
		// what it must bound is how long a delete stays readable.
		retention := "retention.ms"
		if tp.Config["cleanup.policy"] == "compact" {
			retention = "delete.retention.ms"
		}
		if tp.Config[retention] == "" {
			t.Errorf("topic %s: no %s", tp.Name, retention)
		}
		// The state topic's total order and read-your-writes rest on it
		// having one partition, and its full state on compaction.
		if tp.Name == kvtopic.DefaultTopic && (tp.Partitions != 1 || tp.Config["cleanup.policy"] != "compact") {
			t.Errorf("topic %s: %d partitions, cleanup %q; want 1 partition, compacted", tp.Name, tp.Partitions, tp.Config["cleanup.policy"])
		}
	}
	for _, want := range []string{bus.TopicAccess, bus.TopicPosts, bus.TopicDeadLetter, kvtopic.DefaultTopic,
		ownership.TopicLeader, ownership.TopicCrawl, ownership.TopicSearch} {
		if !names[want] {
			t.Errorf("no spec for topic %s", want)
		}
	}
}

// TestKafkaTopicsEmbedded: serve creates topics from the copy compiled into
// the binary; it must be this file, and parse as kafkabus reads it.
func TestKafkaTopicsEmbedded(t *testing.T) {
	b, err := os.ReadFile("kafka/topics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, deploy.KafkaTopics()) {
		t.Fatal("deploy.KafkaTopics differs from kafka/topics.yaml")
	}
	specs, err := kafkabus.ParseTopics(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Value == "" {
			t.Errorf("topic %s: no value schema named", s.Name)
		}
	}
}
