package feeds

import (
	"context"
	"fmt"
	"time"
)

// RunLog is the shared record of crawl runs, netpulse.crawl_runs in
// ClickHouse (deploy/clickhouse/schema/0021_crawl_runs.sql): *store.DB
// satisfies it. Every crawl node writes its runs there, so that source
// health reads the same on every node and survives a source moving to
// another node; the reports read the same rows for the crawl success rate.
type RunLog interface {
	Insert(ctx context.Context, table string, rows any) error
	Select(ctx context.Context, dest any, query string, args ...any) error
}

// TableCrawlRuns is the ClickHouse table of crawl runs.
const TableCrawlRuns = "netpulse.crawl_runs"

// runRow is one row of netpulse.crawl_runs.
type runRow struct {
	Source              string    `json:"source"`
	StartedAt           time.Time `json:"started_at"`
	OK                  uint8     `json:"ok"`
	Posts               int       `json:"posts"`
	Error               string    `json:"error"`
	Node                string    `json:"node"`
	DurationMs          int64     `json:"duration_ms"`
	Pages               int       `json:"pages"`
	NotModified         int       `json:"not_modified"`
	Seen                int       `json:"seen"`
	Robots              int       `json:"robots"`
	Failed              int       `json:"failed"`
	Old                 int       `json:"old"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
}

// qSharedHealth folds each source's runs into its health: the latest run's
// figures and streak, the last success and error, and totals over the
// retained runs. Integers are read as Float64 because ClickHouse quotes
// 64-bit integers in JSON; aliases differ from column names because an
// alias named like a column would replace it inside sum().
const qSharedHealth = `
SELECT source,
       max(started_at) AS last_run_at,
       maxIf(started_at, ok = 1) AS last_success_at,
       toFloat64(countIf(ok = 1)) AS successes,
       maxIf(started_at, ok = 0) AS last_error_at,
       toFloat64(countIf(ok = 0)) AS errors,
       argMaxIf(error, started_at, ok = 0) AS last_error,
       toFloat64(argMax(consecutive_failures, started_at)) AS last_consecutive_failures,
       toFloat64(argMax(pages, started_at)) AS last_pages,
       toFloat64(argMax(not_modified, started_at)) AS last_not_modified,
       toFloat64(argMax(seen, started_at)) AS last_seen,
       toFloat64(argMax(robots, started_at)) AS last_robots,
       toFloat64(argMax(failed, started_at)) AS last_failed,
       toFloat64(argMax(old, started_at)) AS last_old,
       toFloat64(argMax(posts, started_at)) AS last_posts,
       toFloat64(sum(posts)) AS posts_total,
       toFloat64(sum(robots)) AS robots_total
FROM ` + TableCrawlRuns + `
GROUP BY source
ORDER BY source`

type healthRow struct {
	Source              string    `json:"source"`
	LastRunAt           time.Time `json:"last_run_at"`
	LastSuccessAt       time.Time `json:"last_success_at"`
	Successes           float64   `json:"successes"`
	LastErrorAt         time.Time `json:"last_error_at"`
	Errors              float64   `json:"errors"`
	LastError           string    `json:"last_error"`
	ConsecutiveFailures float64   `json:"last_consecutive_failures"`
	Pages               float64   `json:"last_pages"`
	NotModified         float64   `json:"last_not_modified"`
	Seen                float64   `json:"last_seen"`
	Robots              float64   `json:"last_robots"`
	Failed              float64   `json:"last_failed"`
	Old                 float64   `json:"last_old"`
	Posts               float64   `json:"last_posts"`
	PostsTotal          float64   `json:"posts_total"`
	RobotsTotal         float64   `json:"robots_total"`
}

// sharedHealth reads every source's health from the run log.
func sharedHealth(ctx context.Context, runs RunLog, failAfter int) (map[string]SourceHealth, error) {
	var rows []healthRow
	if err := runs.Select(ctx, &rows, qSharedHealth); err != nil {
		return nil, fmt.Errorf("read source health from %s: %w", TableCrawlRuns, err)
	}
	out := make(map[string]SourceHealth, len(rows))
	for _, r := range rows {
		sh := SourceHealth{
			Source:              r.Source,
			LastRunAt:           r.LastRunAt.UTC(),
			LastError:           r.LastError,
			ConsecutiveFailures: int(r.ConsecutiveFailures),
			Failing:             int(r.ConsecutiveFailures) >= failAfter,
			LastRun: Run{Pages: int(r.Pages), NotModified: int(r.NotModified), Seen: int(r.Seen),
				Robots: int(r.Robots), Failed: int(r.Failed), Old: int(r.Old), Posts: int(r.Posts)},
			PostsTotal:         int64(r.PostsTotal),
			RobotsSkippedTotal: int64(r.RobotsTotal),
		}
		// maxIf over no rows is the epoch, not a time.
		if r.Successes > 0 {
			sh.LastSuccessAt = r.LastSuccessAt.UTC()
		}
		if r.Errors > 0 {
			sh.LastErrorAt = r.LastErrorAt.UTC()
		}
		out[r.Source] = sh
	}
	return out, nil
}
