package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/netpulse/netpulse/pipeline/store/clickhouse"

	"github.com/netpulse/netpulse/chinese/jieba"
	"github.com/netpulse/netpulse/deploy"
	"github.com/netpulse/netpulse/pipeline/bus"
	"github.com/netpulse/netpulse/pipeline/bus/journal"
	"github.com/netpulse/netpulse/pipeline/store"
	"github.com/netpulse/netpulse/pipeline/store/chdb"
)

// benchStages lists the stages in the order they run. Each measures the
// production code path and, beside it, the ceiling that path cannot beat.
func benchStages() []benchStage {
	return []benchStage{
		{"bus", benchBus},
		{"store", benchStore},
		{"intake", benchIntake},
		{"posts", benchPosts},
		{"search", benchSearch},
		{"alerts", benchAlerts},
	}
}

// benchDB opens the one chDB engine of the bench process, shared by every
// stage (libchdb allows one per process).
func (e *benchEnv) benchDB(ctx context.Context) (*store.DB, error) {
	if e.db != nil {
		return e.db, nil
	}
	var b store.Backend
	var err error
	if len(e.clickhouse) > 0 {
		b, err = clickhouse.Open(clickhouse.Options{Addrs: e.clickhouse})
	} else {
		b, err = chdb.Open(filepath.Join(filepath.Dir(e.dir), "chdb"))
	}
	if err != nil {
		return nil, err
	}
	db := store.New(b, nil)
	if err := db.Migrate(ctx, deploy.Schema()); err != nil {
		db.Close()
		return nil, err
	}
	e.db = db
	return db, nil
}

// benchSeg opens the process's one jieba segmenter and registers its Bleve
// analysers, as serve does; every stage that cuts Chinese text shares it.
func (e *benchEnv) benchSeg() (*jieba.Segmenter, error) {
	if e.seg != nil {
		return e.seg, nil
	}
	seg, err := jieba.Open(filepath.Join(filepath.Dir(e.dir), "jieba"))
	if err != nil {
		return nil, err
	}
	if err := jieba.Register(seg); err != nil {
		seg.Close()
		return nil, err
	}
	e.seg = seg
	return seg, nil
}

// storeName is the backend the store figures come from.
func (e *benchEnv) storeName() string {
	if len(e.clickhouse) > 0 {
		return "ClickHouse"
	}
	return "chDB"
}

func (e *benchEnv) close() {
	if e.db != nil {
		e.db.Close()
	}
	if e.seg != nil {
		e.seg.Close()
	}
}

// benchBus: journal Publish from concurrent publishers (fsync always),
// against appending the same bytes to a plain file with one fsync per
// group of batches, which is the most any group-committing log can do.
func benchBus(ctx context.Context, env *benchEnv) ([]benchRow, error) {
	const publishers, batch, size = 8, 100, 300
	total := env.scale.BusMessages
	perPub := total / publishers / batch * batch
	total = perPub * publishers
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	j, err := journal.Open(journal.Options{Dir: filepath.Join(env.dir, "journal"), Partitions: 4})
	if err != nil {
		return nil, err
	}
	defer j.Close()
	env.progress("bus: journal publish", total)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]bus.Message, batch)
			for i := 0; i < perPub; i += batch {
				for k := range msgs {
					msgs[k] = bus.Message{Key: fmt.Appendf(nil, "venue-%d-%d", p, (i+k)%64), Value: payload}
				}
				if err := j.Publish(ctx, "bench.bus", msgs...); err != nil {
					errs <- err
					return
				}
				env.step(batch)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	journalRate := float64(total) / time.Since(start).Seconds()

	env.progress("bus: raw file append", total)
	f, err := os.Create(filepath.Join(env.dir, "raw.log"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	chunk := make([]byte, 0, publishers*batch*(size+24))
	start = time.Now()
	for written := 0; written < total; written += publishers * batch {
		chunk = chunk[:0]
		for k := 0; k < publishers*batch; k++ {
			chunk = append(chunk, "venue-0-00000000000000"...)
			chunk = append(chunk, payload...)
		}
		if _, err := f.Write(chunk); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		env.step(publishers * batch)
	}
	rawRate := float64(total) / time.Since(start).Seconds()
	return []benchRow{{Metric: "journal publish, fsync always", Value: journalRate, Unit: "msg/s",
		Ceiling: "raw append+fsync", CeilingVal: rawRate}}, nil
}

type benchStoreRow struct {
	ID    uint64    `json:"id"`
	Venue string    `json:"venue"`
	Place string    `json:"place"`
	Name  string    `json:"name"`
	At    time.Time `json:"at"`
}

// benchStore: the raw chDB insert rate, the ceiling of every stage that
// ends in the store.
func benchStore(ctx context.Context, env *benchEnv) ([]benchRow, error) {
	db, err := env.benchDB(ctx)
	if err != nil {
		return nil, err
	}
	if err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS netpulse.bench_raw (id UInt64, venue LowCardinality(String), place String, name String, at DateTime64(3,'UTC')) ENGINE = MergeTree ORDER BY (venue, at)`); err != nil {
		return nil, err
	}
	batch := min(5000, env.scale.Records)
	total := env.scale.Records / batch * batch
	rows := make([]benchStoreRow, batch)
	at := time.Now().UTC()
	env.progress("store: chDB insert", total)
	start := time.Now()
	for done := 0; done < total; done += batch {
		for i := range rows {
			rows[i] = benchStoreRow{uint64(done + i), fmt.Sprintf("C%04d", (done+i)%64), fmt.Sprintf("终端%03d", i%200), "张三", at}
		}
		if err := db.Insert(ctx, "netpulse.bench_raw", rows); err != nil {
			return nil, err
		}
		env.step(batch)
	}
	rate := float64(total) / time.Since(start).Seconds()
	return []benchRow{{Metric: env.storeName() + " raw insert (5000-row batches)", Value: rate, Unit: "rows/s"}}, nil
}
