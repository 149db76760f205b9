package access_test

import (
	"context"
	"errors"
	"github.com/netpulse/netpulse/access"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/netpulse/netpulse/pipeline/bus/kafkatest"
	"github.com/netpulse/netpulse/pipeline/kvtopic"
)

// brokerAddr is the real Kafka broker TestMain starts for the shared-mode
// tests.
var brokerAddr string

func TestMain(m *testing.M) {
	os.Exit(kafkatest.Main(m, func(b kafkatest.Broker) { brokerAddr = b.Addr() }))
}

// sharedNode opens a registry in its own folder and makes it one node of the
// cluster whose state is topic, the way serve --kafka does.
func sharedNode(t *testing.T, topic string, reg *access.Registry) *access.Registry {
	t.Helper()
	if reg == nil {
		var err error
		if reg, err = access.Open(t.TempDir(), 0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := kvtopic.Open(ctx, kvtopic.Options{Brokers: []string{brokerAddr}, Topic: topic,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	l.Register(access.StateTable, reg.StateTable())
	rctx, stop := context.WithCancel(context.Background())
	if err := l.Start(rctx); err != nil {
		stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		if err := l.Wait(); err != nil {
			t.Errorf("applier: %v", err)
		}
		l.Close()
	})
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	reg.Share(l)
	return reg
}

func testVenue(code string) access.Venue {
	return access.Venue{Code: code, Kind: "cafe", Name: "星空网吧", District: "江岸区", Unit: "网安一大队"}
}

// eventually polls cond until it holds or a generous deadline passes: it
// proves that something happens, not how fast.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSharedVenueKeys(t *testing.T) {
	ctx := context.Background()
	a, b := sharedNode(t, "access.venues", nil), sharedNode(t, "access.venues", nil)

	key, err := a.AddVenue(ctx, testVenue("C001"))
	if err != nil {
		t.Fatal(err)
	}
	// No waiting: a key unknown locally makes B catch up before it refuses.
	p, err := b.Authenticate(ctx, key)
	if err != nil || p.Venue != "C001" || p.Role != access.RoleVenue {
		t.Fatalf("key made on A, on B: %+v, %v", p, err)
	}
	if _, err := b.AddVenue(ctx, testVenue("C001")); !errors.Is(err, access.ErrExists) {
		t.Errorf("adding C001 again on B: %v, want ErrExists", err)
	}

	// B has the key cached now; a revocation on A must still reach it.
	if err := a.RevokeVenueKey(ctx, "C001"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, key); !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("revoked key on A: %v, want refused at once", err)
	}
	eventually(t, "key revoked on A refused on B", func() bool {
		_, err := b.Authenticate(ctx, key)
		return errors.Is(err, access.ErrUnauthenticated)
	})

	// Rotate on B, then a change on A: A starts from B's rotation, so the
	// new key survives A's write instead of being overwritten by a stale copy.
	newKey, err := b.RotateVenueKey(ctx, "C001")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetLegalHold(ctx, "C001", true); err != nil {
		t.Fatal(err)
	}
	// A wrote through the log, so it reads its own change at once; B reads
	// the shared state as it arrives, so it is given time (CI once caught B
	// a moment before A's hold reached it).
	check := func(name string, reg *access.Registry) bool {
		v, err := reg.Venue(ctx, "C001")
		if err != nil || !v.LegalHold || v.Revoked {
			t.Logf("%s: venue %+v, %v; want on hold with a live key", name, v, err)
			return false
		}
		if _, err := reg.Authenticate(ctx, newKey); err != nil {
			t.Logf("%s: rotated key: %v", name, err)
			return false
		}
		return true
	}
	if !check("A", a) {
		t.Error("A does not read its own change")
	}
	eventually(t, "B on hold with the rotated key", func() bool { return check("B", b) })
}

func TestSharedUsersAndSessions(t *testing.T) {
	ctx := context.Background()
	a, b := sharedNode(t, "access.users", nil), sharedNode(t, "access.users", nil)
	tok, err := a.AddUser(ctx, access.UserSpec{Name: "li", Role: access.RoleAnalyst, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	sid, csrf, err := a.Login(ctx, "li", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	p, gotCSRF, err := b.Session(ctx, sid)
	if err != nil || p.Name != "li" || gotCSRF != csrf {
		t.Fatalf("session opened on A, on B: %+v %q, %v", p, gotCSRF, err)
	}
	if err := b.Logout(ctx, sid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "session closed on B refused on A", func() bool {
		_, _, err := a.Session(ctx, sid)
		return errors.Is(err, access.ErrUnauthenticated)
	})

	if _, err := b.Authenticate(ctx, tok); err != nil {
		t.Fatalf("token made on A, on B: %v", err)
	}
	if err := a.DisableUser(ctx, "li"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "user disabled on A refused on B", func() bool {
		_, err := b.Authenticate(ctx, tok)
		return errors.Is(err, access.ErrUnauthenticated)
	})
	users, err := b.Users(ctx)
	if err != nil || len(users) != 1 || !users[0].Disabled {
		t.Errorf("users on B: %+v, %v; want li, disabled", users, err)
	}
}

// A node that ran alone brings its registry into the cluster: the first
// node on an empty topic seeds it, and a second node receives it.
func TestSharedSeedFromSingleNode(t *testing.T) {
	ctx := context.Background()
	alone, err := access.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := alone.AddVenue(ctx, testVenue("H001"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := alone.Replica(ctx); ok || err != nil {
		t.Fatalf("a registry that never joined a cluster: Replica = %v, %v", ok, err)
	}
	sharedNode(t, "access.seed", alone)
	joined := sharedNode(t, "access.seed", nil)
	if p, err := joined.Authenticate(ctx, key); err != nil || p.Venue != "H001" {
		t.Errorf("key of the single node, on a node that joined later: %+v, %v", p, err)
	}
	if ok, err := joined.Replica(ctx); !ok || err != nil {
		t.Errorf("a registry applied from the topic: Replica = %v, %v", ok, err)
	}
}
