package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse/jsonapi"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/access"
	"github.com/netpulse/netpulse/pipeline/ownership"
	"github.com/netpulse/netpulse/search/scatter"
	"github.com/netpulse/netpulse/search/shards"
)

// Cluster coordination in serve. With --kafka the nodes of one deployment
// find each other and split work only through Kafka consumer groups (package
// ownership); on the embedded journal there is one node and it does all.
//
// The leader lease is Kafka's group protocol, not a ClickHouse row:
// ClickHouse has no compare-and-set and replicated inserts are applied
// asynchronously, so two nodes could both read "free" and both write "mine";
// a group generation is granted by one coordinator, ends on its own when
// heartbeats stop, and kafka-go stops the holder's work before it rejoins.
const (
	groupLeader = "netpulse.leader"
	groupCrawl  = "netpulse.crawl"
	groupSearch = "netpulse.search"
)

// clusterState is what serve keeps about the cluster.
type clusterState struct {
	mu     sync.Mutex
	led    []ledLoop
	leader prometheus.Gauge
	owned  *prometheus.GaugeVec
}

type ledLoop struct {
	name string
	fn   func(context.Context) error
}

// clustered reports whether this node is one of several: nodes coordinate
// when they share a Kafka bus.
func (a *app) clustered() bool { return len(a.cfg.Kafka) > 0 }

func (a *app) cluster() *clusterState {
	if a.cl == nil {
		a.cl = &clusterState{
			leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netpulse_cluster_leader",
				Help: "1 while this node holds the leader lease (runs the detector and the rules)."}),
			owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "netpulse_cluster_owned_partitions",
				Help: "Coordination-topic partitions this node owns, by group."}, []string{"group"}),
		}
		a.reg.MustRegister(a.cl.leader, a.cl.owned)
	}
	return a.cl
}

// advertise is the base URL peers use for this node's internal endpoints.
func (a *app) advertise() string {
	if a.cfg.Advertise != "" {
		return a.cfg.Advertise
	}
	scheme := "http"
	if a.cfg.TLSCert != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(a.cfg.Listen)
	if err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		if h, herr := os.Hostname(); herr == nil {
			return scheme + "://" + net.JoinHostPort(h, port)
		}
	}
	return scheme + "://" + a.cfg.Listen
}

func (a *app) ownershipOptions(group, topic string, partitions int) ownership.Options {
	host, _ := os.Hostname()
	return ownership.Options{Brokers: a.cfg.Kafka, Group: group, Topic: topic, Partitions: partitions,
		Replication: a.cfg.KafkaReplication, Advertise: a.advertise(), ClientID: "netpulse-" + host,
		Logger: a.log.With("part", "cluster", "group", group)}
}

// runLed runs fn on the one node that holds the leader lease (always this
// node on the journal). fn's context ends when the lease is lost.
func (a *app) runLed(name string, fn func(context.Context) error) {
	c := a.cluster()
	c.mu.Lock()
	c.led = append(c.led, ledLoop{name, fn})
	c.mu.Unlock()
}

// startLeader adds the led loops to the run group, under one lease so that
// the detector and the rules always run on the same node.
func (a *app) startLeader(ctx context.Context) {
	c := a.cluster()
	c.mu.Lock()
	loops := slices.Clone(c.led)
	c.mu.Unlock()
	if len(loops) == 0 {
		return
	}
	runAll := func(ctx context.Context) error {
		c.leader.Set(1)
		defer c.leader.Set(0)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make([]error, len(loops))
		var wg sync.WaitGroup
		for i, l := range loops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.fn(ctx); err != nil && ctx.Err() == nil {
					errs[i] = fmt.Errorf("%s: %w", l.name, err)
					cancel()
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	lctx, cancel := context.WithCancel(ctx)
	a.group.Add(func() error {
		if !a.clustered() {
			return runAll(lctx)
		}
		return ownership.Lead(lctx, a.ownershipOptions(groupLeader, ownership.TopicLeader, 1), runAll)
	}, func(error) { cancel() })
}

// runCrawl runs crawl with the sources this node owns: all of them on the
// journal; in a cluster, those whose name hashes onto the partitions of
// netpulse.crawl this node is assigned, generation by generation. A
// generation's crawls stop before the node rejoins the group, so a source
// is never crawled by two nodes at once.
func (a *app) runCrawl(ctx context.Context, crawl func(ctx context.Context, owns func(source string) bool) error) error {
	if !a.clustered() {
		return crawl(ctx, nil)
	}
	c := a.cluster()
	return ownership.Run(ctx, a.ownershipOptions(groupCrawl, ownership.TopicCrawl, a.cfg.KafkaPartitions),
		func(ctx context.Context, gen ownership.Generation) error {
			c.owned.WithLabelValues(groupCrawl).Set(float64(len(gen.Owned)))
			owned, n := gen.Owned, gen.Partitions
			return crawl(ctx, func(source string) bool { return ownership.Owns(owned, n, source) })
		})
}

// wireSearchCluster spreads post search over the process nodes. It
// reports whether it mounted GET /api/v1/search/posts (then the caller must
// not). A process node serves its shards on the internal endpoints and
// joins netpulse.search with its address; an api node answers searches by
// asking every member of that group.
func (a *app) wireSearchCluster(ctx context.Context, set *shards.Set) (mounted bool, err error) {
	if !a.clustered() {
		return false, nil
	}
	if a.cfg.ClusterToken == "" && (a.cfg.hasRole("process") || a.cfg.hasRole("api")) {
		return false, errors.New("cluster-token: required with --kafka on process and api nodes (cluster search)")
	}
	log := a.log.With("part", "cluster-search")
	if a.cfg.hasRole("process") {
		scatter.NewNode(set, a.cfg.ClusterToken, log).WithRepair(a.db, set).Routes(a.mux)
		sctx, cancel := context.WithCancel(ctx)
		a.group.Add(func() error {
			return ownership.Run(sctx, a.ownershipOptions(groupSearch, ownership.TopicSearch, 1),
				func(ctx context.Context, _ ownership.Generation) error { <-ctx.Done(); return nil })
		}, func(error) { cancel() })
	}
	if !a.cfg.hasRole("api") {
		return false, nil
	}
	peers := func(ctx context.Context) ([]string, error) {
		ms, err := ownership.Members(ctx, a.cfg.Kafka, groupSearch)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, m := range ms {
			if m.Advertise != "" {
				out = append(out, m.Advertise)
			}
		}
		return out, nil
	}
	coord := scatter.NewCoordinator(peers, a.cfg.ClusterToken, 10*time.Second)
	a.mux.Handle("GET /api/v1/search/posts", access.Require(a.access, access.RoleAnalyst, access.RoleAdmin)(
		scatter.Handler(coord, chinaTime, log)))
	// After a process node is lost for good (its volume too), an admin
	// rebuilds what no node's shards hold any more from the shared store:
	// POST /api/v1/search/repair?from=2026-11-01&to=2026-11-29 (days in
	// China time; default: the post retention up to now).
	a.mux.Handle("POST /api/v1/search/repair", access.Require(a.access, access.RoleAdmin)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			span := scatter.Span{From: time.Now().Add(-a.cfg.PostRetention), To: time.Now()}
			for name, dst := range map[string]*time.Time{"from": &span.From, "to": &span.To} {
				if v := r.URL.Query().Get(name); v != "" {
					d, err := time.ParseInLocation(time.DateOnly, v, chinaTime)
					if err != nil {
						jsonapi.Error(w, http.StatusBadRequest, name+": want YYYY-MM-DD")
						return
					}
					if name == "to" {
						d = d.Add(24*time.Hour - time.Nanosecond)
					}
					*dst = d
				}
			}
			res, err := coord.Repair(r.Context(), a.db, span)
			if err != nil {
				log.Error("search repair", "err", err, "done", res)
				jsonapi.Error(w, http.StatusServiceUnavailable, "repair failed; see the log")
				return
			}
			log.Info("search repair", "stored", res.Stored, "indexed", res.Indexed, "rebuilt", res.Rebuilt, "node", res.Node)
			jsonapi.Write(w, http.StatusOK, res)
		})))
	return true, nil
}

// muxFor returns the mux for routes of role: the served one when this node
// runs role, otherwise one that nobody serves, so that a subsystem wires
// its routes the same way on every node. Venue intake is served on api
// nodes too: the web UI's operator pages call it in process (intake is
// stateless, so any node may take an upload).
func (a *app) muxFor(role string) *http.ServeMux {
	if a.cfg.hasRole(role) || (role == "intake" && a.cfg.hasRole("api")) {
		return a.mux
	}
	return http.NewServeMux()
}
