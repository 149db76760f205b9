package store

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ClusterSchema rewrites the single-node schema for a ClickHouse cluster so
// that one set of schema files serves both deployments and every query runs
// unchanged:
//
//   - each MergeTree-family table T becomes T_local, Replicated, created
//     ON CLUSTER, plus T itself as a Distributed table over T_local;
//   - rows are sharded by a hash of the table's ORDER BY key (or of the
//     expression in a "-- shard-key: EXPR" comment line just before the
//     CREATE), so that rows a Replacing or Summing engine must merge meet on
//     one shard;
//   - materialized views read from and write to the _local tables, so that
//     each shard aggregates its own inserts;
//   - other statements (databases, views, ALTERs) gain ON CLUSTER; an ALTER
//     of a sharded table is applied to T_local and to T.
//
// The ZooKeeper path is /clickhouse/tables/{shard}/netpulse/T and the
// replica name {replica}; both macros come from each server's config.
func ClusterSchema(schema fs.FS, cluster string) ([]string, error) {
	files, err := fs.Glob(schema, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return versionOf(files[i]) < versionOf(files[j]) })
	sharded := map[string]bool{}
	var out []string
	for _, f := range files {
		text, err := fs.ReadFile(schema, f)
		if err != nil {
			return nil, err
		}
		for _, block := range splitWithComments(string(text)) {
			stmts, err := clusterStatement(block.stmt, block.shardKey, cluster, sharded)
			if err != nil {
				return nil, fmt.Errorf("cluster schema %s: %w", path.Base(f), err)
			}
			out = append(out, stmts...)
		}
	}
	return out, nil
}

func versionOf(name string) int {
	num, _, _ := strings.Cut(path.Base(name), "_")
	v, _ := strconv.Atoi(num)
	return v
}

type schemaBlock struct {
	stmt     string
	shardKey string
}

// splitWithComments is SplitStatements that also keeps "-- shard-key:"
// annotations with the statement they precede.
func splitWithComments(text string) []schemaBlock {
	var out []schemaBlock
	var cur strings.Builder
	key := ""
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if k, ok := strings.CutPrefix(trimmed, "-- shard-key:"); ok {
			key = strings.TrimSpace(k)
			continue
		}
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, schemaBlock{strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"), key})
			cur.Reset()
			key = ""
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, schemaBlock{s, key})
	}
	return out
}

var (
	createTableRe = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?netpulse\.(\w+)\s*(.*)$`)
	engineRe      = regexp.MustCompile(`(?is)ENGINE\s*=\s*(\w*MergeTree)\s*(\(([^()]*(\([^()]*\))?[^()]*)\))?`)
	orderByRe     = regexp.MustCompile(`(?is)ORDER\s+BY\s+(\([^;]*?\)|[\w.]+)(\s|$)`)
	createMVRe    = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?netpulse\.(\w+)\s+TO\s+netpulse\.(\w+)\s*(.*)$`)
	createOtherRe = regexp.MustCompile(`(?is)^CREATE\s+(DATABASE|VIEW|DICTIONARY|FUNCTION)\s+(IF\s+NOT\s+EXISTS\s+)?([\w.]+)\s*(.*)$`)
	alterRe       = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+netpulse\.(\w+)\s+(.*)$`)
	tableRefRe    = regexp.MustCompile(`netpulse\.(\w+)`)
)

func clusterStatement(stmt, shardKey, cluster string, sharded map[string]bool) ([]string, error) {
	on := " ON CLUSTER " + Quote(cluster)
	if m := createTableRe.FindStringSubmatch(stmt); m != nil {
		name, rest := m[2], m[3]
		em := engineRe.FindStringSubmatchIndex(rest)
		if em == nil {
			// Not a MergeTree (Memory, Null, …): one per server.
			return []string{"CREATE TABLE " + m[1] + "netpulse." + name + on + " " + rest}, nil
		}
		engine := rest[em[2]:em[3]]
		args := ""
		if em[6] >= 0 {
			args = strings.TrimSpace(rest[em[6]:em[7]])
		}
		repl := fmt.Sprintf("ENGINE = Replicated%s('/clickhouse/tables/{shard}/netpulse/%s', '{replica}'", engine, name)
		if args != "" {
			repl += ", " + args
		}
		repl += ")\n"
		localRest := rest[:em[0]] + repl + rest[em[1]:]
		if shardKey == "" {
			om := orderByRe.FindStringSubmatch(rest)
			if om == nil {
				return nil, fmt.Errorf("table %s: no ORDER BY to shard by; add a -- shard-key: comment", name)
			}
			shardKey = "cityHash64(" + strings.Trim(om[1], "()") + ")"
		}
		sharded[name] = true
		return []string{
			"CREATE TABLE " + m[1] + "netpulse." + name + "_local" + on + " " + localRest,
			fmt.Sprintf("CREATE TABLE %snetpulse.%s%s AS netpulse.%s_local ENGINE = Distributed(%s, netpulse, %s_local, %s)",
				m[1], name, on, name, Quote(cluster), name, shardKey),
		}, nil
	}
	if m := createMVRe.FindStringSubmatch(stmt); m != nil {
		body := tableRefRe.ReplaceAllStringFunc(m[4], func(ref string) string {
			if t := ref[len("netpulse."):]; sharded[t] {
				return ref + "_local"
			}
			return ref
		})
		target := m[3]
		if sharded[target] {
			target += "_local"
		}
		return []string{"CREATE MATERIALIZED VIEW " + m[1] + "netpulse." + m[2] + on + " TO netpulse." + target + " " + body}, nil
	}
	if m := createOtherRe.FindStringSubmatch(stmt); m != nil {
		return []string{"CREATE " + m[1] + " " + m[2] + m[3] + on + " " + m[4]}, nil
	}
	if m := alterRe.FindStringSubmatch(stmt); m != nil {
		if sharded[m[1]] {
			return []string{
				"ALTER TABLE netpulse." + m[1] + "_local" + on + " " + m[2],
				"ALTER TABLE netpulse." + m[1] + on + " " + m[2],
			}, nil
		}
		return []string{"ALTER TABLE netpulse." + m[1] + on + " " + m[2]}, nil
	}
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stmt)), "INSERT") {
		return []string{stmt}, nil
	}
	return nil, fmt.Errorf("statement the cluster rewrite does not know: %s", abbreviate(stmt))
}
