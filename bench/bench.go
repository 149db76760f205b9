// Package bench measures every stage of netpulse against its ceiling on this
// machine (`netpulse bench`): intake, bus, store, posts, search and alerts,
// each with serve's own parts and settings, and prints one table.
package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/pipeline/store"
)

// Defaults are the serve settings the stages run with; cmd/netpulse passes
// its real defaults, so the bench measures what serve ships.
type Defaults struct {
	BatchRows  int
	BatchDelay time.Duration
	// Location is where the post index's days begin (the unit's zone).
	Location *time.Location
}

// benchRow is one line of the bench table: a production rate beside the
// ceiling it is measured against, from the same run on the same machine.
type benchRow struct {
	Stage      string  `json:"stage"`
	Metric     string  `json:"metric"`
	Value      float64 `json:"value"`
	Unit       string  `json:"unit"`
	Ceiling    string  `json:"ceiling,omitempty"`
	CeilingVal float64 `json:"ceiling_value,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	// LowerBetter marks times and costs: their ratio is ceiling/value, so
	// that every ratio reads "fraction of the ceiling reached" (1 = at it).
	LowerBetter bool    `json:"lower_is_better,omitempty"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	// StageCPU is the process's CPU seconds (user+system) over the whole
	// stage, ceilings included; with the wall time it shows how much of
	// the shared machine the stage actually got.
	StageCPU    float64 `json:"stage_cpu_s"`
	StageWall   float64 `json:"stage_wall_s"`
	Description string  `json:"description,omitempty"`
}

// benchScale sizes every stage. tiny is for the CI test, small for the
// documented table (under ten minutes here), full for the long claims.
type benchScale struct {
	Name        string
	Records     int // intake and store rows
	BusMessages int
	Posts       int // posts through the post pipeline
	SearchPosts int // index size for search latency
	Queries     int // queries per query kind
	Terms       []int
	Bursts      int // bursts timed from first post to alert
}

var benchScales = map[string]benchScale{
	"tiny":  {"tiny", 2000, 2000, 300, 2000, 20, []int{1000}, 1},
	"small": {"small", 100000, 100000, 20000, 100000, 200, []int{10000, 100000, 200000}, 3},
	"full":  {"full", 1000000, 1000000, 100000, 1000000, 500, []int{10000, 100000, 200000}, 5},
}

// benchEnv is what every stage gets: a data folder of its own, the scale, a
// logger, and a way to report progress.
type benchEnv struct {
	dir   string
	scale benchScale
	log   *slog.Logger
	bar   *progressbar.ProgressBar
	db    *store.DB // opened on first use by benchDB
	// clickhouse, if set, makes benchDB use a ClickHouse server instead of
	// chDB (point it at a scratch server: the bench writes into netpulse).
	clickhouse []string
	defaults   Defaults         // serve's defaults: batch sizes and delays as shipped
	run        string           // unique per run, for names in a shared server
	seg        *jieba.Segmenter // the process's one segmenter, opened by benchSeg
	prodPeak   float64          // peak RSS when the stage's production path ended; 0: not marked
}

func (e *benchEnv) progress(desc string, total int) {
	e.bar.Reset()
	e.bar.ChangeMax(total)
	e.bar.Describe(desc)
}

func (e *benchEnv) step(n int) { e.bar.Add(n) }

// productionDone marks the end of a stage's production path: the stage's
// peak RSS is read here, before its ceilings hold their own copies of the
// data.
func (e *benchEnv) productionDone() { e.prodPeak = peakRSSMiB() }

type benchStage struct {
	name string
	run  func(ctx context.Context, env *benchEnv) ([]benchRow, error)
}

// Run parses the bench's flags from args, runs the chosen stages and writes
// the table to stdout (progress to stderr).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, d Defaults) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "scratch folder (default: a temporary folder, removed afterwards)")
	scaleName := fs.String("scale", "small", "tiny, small or full")
	jsonOut := fs.String("json", "", "also write the figures as JSON to this file")
	only := fs.String("stages", "", "comma-separated stage names to run (default: all)")
	chAddrs := fs.String("clickhouse", "", "ClickHouse server native addresses host:port,... (a scratch server); empty uses embedded chDB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scale, ok := benchScales[*scaleName]
	if !ok {
		return fmt.Errorf("bench: --scale %q: want tiny, small or full", *scaleName)
	}
	// Always a fresh folder of our own, even inside --data, so that a bench
	// never writes into (or measures) data it did not make.
	if *data != "" {
		if err := os.MkdirAll(*data, 0o750); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp(*data, "netpulse-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bar := progressbar.NewOptions(1, progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	env := &benchEnv{scale: scale, log: slog.New(slog.NewTextHandler(io.Discard, nil)), bar: bar,
		run: strconv.FormatInt(time.Now().UnixNano()%1e10, 36)}
	// The stages run serve's parts with serve's default settings.
	env.defaults = d
	if *chAddrs != "" {
		env.clickhouse = strings.Split(*chAddrs, ",")
	}
	defer env.close()
	var rows []benchRow
	start := time.Now()
	loadStart := loadAverage()
	for _, st := range benchStages() {
		if *only != "" && !strings.Contains(","+*only+",", ","+st.name+",") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		env.dir = filepath.Join(dir, st.name)
		if err := os.MkdirAll(env.dir, 0o750); err != nil {
			return err
		}
		resetPeakRSS()
		env.prodPeak = 0
		cpu0, wall0 := cpuSeconds(), time.Now()
		got, err := st.run(ctx, env)
		if err != nil {
			return fmt.Errorf("bench stage %s: %w", st.name, err)
		}
		peak := env.prodPeak
		if peak == 0 {
			peak = peakRSSMiB()
		}
		cpu, wall := cpuSeconds()-cpu0, time.Since(wall0).Seconds()
		for i := range got {
			got[i].Stage = st.name
			got[i].PeakRSSMiB = peak
			got[i].StageCPU, got[i].StageWall = cpu, wall
			switch {
			case got[i].CeilingVal <= 0 || got[i].Value <= 0:
			case got[i].LowerBetter:
				got[i].Ratio = got[i].CeilingVal / got[i].Value
			default:
				got[i].Ratio = got[i].Value / got[i].CeilingVal
			}
		}
		rows = append(rows, got...)
		bar.Finish()
	}
	writeBenchTable(stdout, rows)
	fmt.Fprintf(stdout, "\nratio: fraction of the ceiling reached (value/ceiling for rates, ceiling/value for times)\n")
	m := benchMachine(loadStart)
	fmt.Fprintf(stdout, "scale %s, %d cores (%s), %s, %s, commit %s, load average %s at start and %s at end, took %s\n",
		scale.Name, runtime.NumCPU(), m.CPU, runtime.GOOS+"/"+runtime.GOARCH, runtime.Version(), m.Commit, m.LoadStart, m.LoadEnd,
		time.Since(start).Round(time.Second))
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"scale": scale.Name, "cores": runtime.NumCPU(), "machine": m,
			"go": runtime.Version(), "when": time.Now().UTC(), "rows": rows}, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return fmt.Errorf("bench: write %s: %w", *jsonOut, err)
		}
	}
	return nil
}

func writeBenchTable(w io.Writer, rows []benchRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\tmetric\tvalue\tunit\tceiling\tceiling value\tratio\tpeak RSS MiB\tstage CPU/wall s\t")
	for _, r := range rows {
		ratio, ceil := "", ""
		if r.CeilingVal > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
			ceil = formatNum(r.CeilingVal)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.1f/%.1f\t\n", r.Stage, r.Metric, formatNum(r.Value), r.Unit, r.Ceiling, ceil, ratio,
			r.PeakRSSMiB, r.StageCPU, r.StageWall)
	}
	tw.Flush()
}

func formatNum(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// resetPeakRSS asks Linux to restart the high-water mark (VmHWM) so that
// each stage reports its own peak; elsewhere the peak is process-wide.
func resetPeakRSS() {
	// Hand freed Go heap back first, so that one stage's garbage does not
	// count in the next stage's peak (chDB's and jieba's memory stays).
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// benchMachineInfo says where the figures come from: the machine is shared,
// so the load average beside them tells a quiet run from a noisy one.
type benchMachineInfo struct {
	CPU       string `json:"cpu"`
	Commit    string `json:"commit"`
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

func benchMachine(loadStart string) benchMachineInfo {
	m := benchMachineInfo{CPU: "unknown CPU", Commit: "unknown (built with -buildvcs=false)", LoadStart: loadStart, LoadEnd: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				m.Commit = s.Value[:min(12, len(s.Value))]
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified {
			m.Commit += "+dirty"
		}
	}
	return m
}

// cpuSeconds is the process's user+system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// loadAverage is the 1-minute load average (Linux), or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
