package terms

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/netpulse/netpulse/pipeline/posts"
)

func TestBigramsAndNormalize(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"仓库火灾", []string{"仓库", "库火", "火灾"}},
		{"火灾！火灾", []string{"火灾"}},
		{"我们的 APP 诈骗 2024", []string{"app", "诈骗"}},
		{"Police warn of SIM-swap fraud", []string{"fraud", "police", "sim", "swap", "warn"}},
		{"单", nil},
		{"", nil},
		{"x1 ab abc123", []string{"abc123"}},
	}
	for _, c := range cases {
		got := Normalize(Bigrams{}.Terms(c.in))
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q → %v, want %v", c.in, got, c.want)
		}
	}
}

func TestPlace(t *testing.T) {
	b, g := 5*time.Minute, 5*time.Second
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name               string
		published, arrived time.Time
		at                 time.Time
		why                Placement
	}{
		{"on time", t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(time.Minute), PlacedPublished},
		{"within grace", t0.Add(4 * time.Minute), t0.Add(5*time.Minute + 2*time.Second), t0.Add(4 * time.Minute), PlacedPublished},
		{"late", t0.Add(4 * time.Minute), t0.Add(5*time.Minute + 3*time.Second), t0.Add(5*time.Minute + 3*time.Second), PlacedLate},
		{"hours late", t0.Add(-3 * time.Hour), t0, t0, PlacedLate},
		{"slightly ahead", t0.Add(4 * time.Minute), t0.Add(time.Minute), t0.Add(4 * time.Minute), PlacedPublished},
		{"far ahead", t0.Add(8 * time.Hour), t0, t0, PlacedFuture},
	}
	for _, c := range cases {
		at, why := Place(c.published, c.arrived, b, g)
		if !at.Equal(c.at) || why != c.why {
			t.Errorf("%s: got %v %d, want %v %d", c.name, at, why, c.at, c.why)
		}
	}
}

func TestClusterKey(t *testing.T) {
	a := ClusterKey(posts.Post{ID: "a", ClusterID: 42})
	b := ClusterKey(posts.Post{ID: "b", ClusterID: 42})
	c := ClusterKey(posts.Post{ID: "c"})
	d := ClusterKey(posts.Post{ID: "c"})
	if a != 42 || a != b || c != d || c == a || c>>63 != 1 {
		t.Fatalf("cluster keys %d %d %d %d", a, b, c, d)
	}
}

func FuzzBigrams(f *testing.F) {
	for _, s := range []string{"仓库火灾", "Police warn of SIM-swap fraud", "\xff\xfe火", "a|b-c_d.e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, term := range Normalize(Bigrams{}.Terms(s)) {
			n := utf8.RuneCountInString(term)
			if n < 2 || n > MaxTermRunes || !utf8.ValidString(term) || term != strings.ToLower(term) {
				t.Fatalf("bad term %q from %q", term, s)
			}
		}
	})
}
