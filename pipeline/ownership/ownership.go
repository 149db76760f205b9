// Package ownership hands out work among netpulse nodes through Kafka's
// consumer-group protocol, so that the cluster needs no membership protocol
// of its own: a node joins a group on a small coordination topic, the group
// coordinator assigns the topic's partitions, and the node owns the work
// those partitions stand for for as long as its generation lives.
//
// Three uses in serve, one mechanism:
//
//   - the leader lease: the member assigned partition 0 of the one-partition
//     topic netpulse.leader runs the detector and the rules (Lead);
//   - crawl work: sources hash onto the partitions of netpulse.crawl, and a
//     node crawls the sources of the partitions it owns (Owns);
//   - search peers: process nodes join netpulse.search with their HTTP
//     address as member user data, and the api role lists them (Members).
//
// A generation ends on a rebalance or when the node's heartbeats stop
// reaching the coordinator; the work function's context ends with it and
// kafka-go waits for the function to return before the node rejoins, so two
// nodes do not own one partition at once except across a network partition
// shorter than the session timeout (see Options.SessionTimeout).
package ownership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/netpulse/netpulse/pipeline/bus"
)

// joinWarnEvery spaces the warnings of a group join that keeps failing.
const joinWarnEvery = 30 * time.Second

// Coordination topics. They carry no messages; their partitions are the
// units of ownership.
const (
	TopicLeader = "netpulse.leader"
	TopicCrawl  = "netpulse.crawl"
	TopicSearch = "netpulse.search"
)

// Options configure one membership.
type Options struct {
	Brokers    []string
	Group      string
	Topic      string
	Partitions int // created with this many partitions when missing; default 1
	// Replication of the coordination topic when created; default 1.
	Replication int
	// Advertise is carried as member user data, e.g. the node's HTTP base
	// URL, and returned by Members.
	Advertise string
	ClientID  string
	// SessionTimeout bounds how long a dead node keeps its partitions;
	// default 10s (the broker's group.min.session.timeout.ms is 6s).
	SessionTimeout time.Duration
	Logger         *slog.Logger
}

func (o *Options) defaults() {
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	if o.Replication <= 0 {
		o.Replication = 1
	}
	if o.ClientID == "" {
		o.ClientID = "netpulse"
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Generation is what a node owns between two rebalances.
type Generation struct {
	ID     int32
	Member string
	Owned  []int // sorted partition ids of Options.Topic
	// Partitions is how many the topic has (it may predate Options).
	Partitions int
}

// Run joins the group and calls work once per generation with the
// partitions this node owns (possibly none). work's context ends when the
// generation ends or ctx does; work must return promptly then. Run returns
// nil when ctx ends, or the first error work returns.
func Run(ctx context.Context, opts Options, work func(ctx context.Context, gen Generation) error) error {
	opts.defaults()
	partitions, err := ensureTopic(ctx, opts)
	if err != nil {
		return err
	}
	log := opts.Logger.With("group", opts.Group, "topic", opts.Topic)
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                opts.Group,
		Brokers:           opts.Brokers,
		Dialer:            &kafka.Dialer{ClientID: opts.ClientID, Timeout: 5 * time.Second, DualStack: true},
		Topics:            []string{opts.Topic},
		GroupBalancers:    []kafka.GroupBalancer{advertBalancer{data: []byte(opts.Advertise)}},
		HeartbeatInterval: time.Second,
		SessionTimeout:    opts.SessionTimeout,
		RebalanceTimeout:  opts.SessionTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		Timeout:           5 * time.Second,
		Logger:            kafkaLogger(log, slog.LevelDebug),
		ErrorLogger:       kafkaLogger(log, slog.LevelDebug),
	})
	if err != nil {
		return fmt.Errorf("join group %s: %w", opts.Group, err)
	}
	// Close leaves the group, so that a clean stop hands the partitions
	// over at once instead of after the session timeout.
	defer cg.Close()
	errc := make(chan error, 1)
	var lastWarn time.Time
	for {
		g, err := cg.Next(ctx)
		select {
		case werr := <-errc:
			return fmt.Errorf("group %s: %w", opts.Group, werr)
		default:
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, kafka.ErrGroupClosed) {
				return nil
			}
			// kafka-go reports a failed join and retries it itself (after
			// JoinGroupBackoff): coordinators load after a broker start,
			// and a broker restart must not stop the node.
			// One WARN per joinWarnEvery: during a broker outage the join
			// fails every JoinGroupBackoff, and a line each time buries
			// the log.
			lvl := slog.LevelWarn
			if errors.Is(err, kafka.RebalanceInProgress) || time.Since(lastWarn) < joinWarnEvery {
				lvl = slog.LevelDebug
			} else {
				lastWarn = time.Now()
			}
			log.Log(ctx, lvl, "join group failed; retrying", "err", err)
			continue
		}
		gen := Generation{ID: g.ID, Member: g.MemberID, Partitions: partitions}
		for _, pa := range g.Assignments[opts.Topic] {
			gen.Owned = append(gen.Owned, pa.ID)
		}
		slices.Sort(gen.Owned)
		log.Info("generation", "generation", gen.ID, "owned", gen.Owned)
		g.Start(func(gctx context.Context) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(gctx, cancel)
			defer stop()
			if err := work(wctx, gen); err != nil && wctx.Err() == nil {
				select {
				case errc <- fmt.Errorf("generation %d: %w", gen.ID, err):
				default:
				}
				return
			}
			// Returning early would end the generation for everyone and
			// churn the group; hold it until it ends.
			<-wctx.Done()
		})
	}
}

// Lead runs fn only while this node holds the lease: partition 0 of the
// one-partition topic TopicLeader in group opts.Group. fn's context ends
// when the lease is lost; fn runs again when it is won again.
func Lead(ctx context.Context, opts Options, fn func(ctx context.Context) error) error {
	opts.Topic, opts.Partitions = TopicLeader, 1
	opts.defaults()
	return Run(ctx, opts, func(ctx context.Context, gen Generation) error {
		if !slices.Contains(gen.Owned, 0) {
			return nil
		}
		opts.Logger.Info("leader lease won", "group", opts.Group, "generation", gen.ID)
		defer opts.Logger.Info("leader lease ended", "group", opts.Group, "generation", gen.ID)
		return fn(ctx)
	})
}

// Owns reports whether key belongs to one of owned out of partitions, with
// the bus's key hash (bus.PartitionFor), so that crawl ownership splits
// sources the way raw.posts splits their posts.
func Owns(owned []int, partitions int, key string) bool {
	return slices.Contains(owned, bus.PartitionFor([]byte(key), partitions))
}

// Member is one member of a group as the coordinator describes it.
type Member struct {
	ID        string
	ClientID  string
	Host      string
	Advertise string
	Owned     map[string][]int // topic → partitions
}

// Members lists the members of group and what each owns. A group in the
// middle of a rebalance lists members without assignments.
func Members(ctx context.Context, brokers []string, group string) ([]Member, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	res, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, err)
	}
	var out []Member
	for _, g := range res.Groups {
		if g.Error != nil {
			return nil, fmt.Errorf("describe group %s: %w", group, g.Error)
		}
		for _, m := range g.Members {
			mm := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost,
				Advertise: string(m.MemberMetadata.UserData), Owned: map[string][]int{}}
			for _, t := range m.MemberAssignments.Topics {
				ps := append([]int(nil), t.Partitions...)
				slices.Sort(ps)
				mm.Owned[t.Topic] = ps
			}
			out = append(out, mm)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// advertBalancer is kafka-go's range assignment with the node's advertised
// address in its member metadata. The protocol name stays "range" so that
// any member, whatever its user data, agrees on the assignor.
type advertBalancer struct {
	kafka.RangeGroupBalancer
	data []byte
}

func (b advertBalancer) UserData() ([]byte, error) { return b.data, nil }

func ensureTopic(ctx context.Context, opts Options) (int, error) {
	c := &kafka.Client{Addr: kafka.TCP(opts.Brokers...), Timeout: 10 * time.Second}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: opts.Topic, NumPartitions: opts.Partitions, ReplicationFactor: opts.Replication}}})
	if err != nil {
		return 0, fmt.Errorf("create topic %s: %w", opts.Topic, err)
	}
	if err := res.Errors[opts.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return 0, fmt.Errorf("create topic %s: %w", opts.Topic, err)
	}
	// The group assigns from metadata; wait until it lists every partition.
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{opts.Topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) > 0 {
			return len(md.Topics[0].Partitions), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for topic %s: %w", opts.Topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func kafkaLogger(log *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		log.Log(context.Background(), level, fmt.Sprintf(msg, args...))
	})
}
