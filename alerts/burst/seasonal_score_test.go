package burst

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Per-series scores of the one configuration (NAB standard profile), pinned
// so that any change to the detector shows what it does series by series.
// Update them, and the package doc, together with the change that moves
// them.
var pinnedScores = map[string]float64{
	"Twitter_volume_AAPL.csv": 85.2,
	"Twitter_volume_AMZN.csv": 63.1,
	"Twitter_volume_CRM.csv":  89.0,
	"Twitter_volume_CVS.csv":  82.7,
	"Twitter_volume_FB.csv":   78.1,
	"Twitter_volume_KO.csv":   82.4,
	"Twitter_volume_PFE.csv":  84.1,
	"taxi-like-30m.csv":       91.7,
	"deliveries-1h.csv":       92.8,
	"traffic-5m.csv":          88.6,
	"weather-word-10m.csv":    91.4,
	"venue-30m.csv":           92.8,
}

// seasonalFloor is the goal for strongly seasonal count series.
const seasonalFloor = 75.0

// TestSeasonalScore scores the generated seasonal series with the same
// scorer as nab-tweets (nab_score.py, through `timestamp,alert` files and a
// windows.json), and pins every per-series score.
func TestSeasonalScore(t *testing.T) {
	dir := nabDir(t)
	nab, err := loadNAB(dir)
	if err != nil {
		t.Fatal(err)
	}
	seas := seasonalSet()
	for _, s := range append(append([]nabSeries{}, nab...), seas...) {
		res := Run(s.pts)
		alerts := make([]bool, len(res))
		n := 0
		for i, r := range res {
			alerts[i] = r.Onset()
			if alerts[i] {
				n++
			}
		}
		raw, k := nabRaw(s, alerts)
		got := nabNormalized(raw, k)
		t.Logf("%-26s windows=%d alerts=%2d score=%5.1f", s.name, k, n, got)
		want, ok := pinnedScores[s.name]
		if !ok {
			t.Errorf("%s: no pinned score", s.name)
			continue
		}
		if math.Abs(got-want) > 0.05 {
			t.Errorf("%s: score %.2f, pinned %.1f", s.name, got, want)
		}
	}

	out := t.TempDir()
	wins := map[string][][2]string{}
	for _, s := range seas {
		f, err := os.Create(filepath.Join(out, s.name))
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteAlerts(f, s.pts, Run(s.pts)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		for _, w := range s.windows {
			wins[s.name] = append(wins[s.name], [2]string{
				w[0].Format("2006-01-02 15:04:05.000000"), w[1].Format("2006-01-02 15:04:05.000000")})
		}
	}
	wj, err := json.Marshal(wins)
	if err != nil {
		t.Fatal(err)
	}
	wpath := filepath.Join(out, "windows.json")
	if err := os.WriteFile(wpath, wj, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	goScore := pooled(&cfg, seas)
	b, err := exec.Command("python3", filepath.Join(dir, "nab_score.py"), "score", wpath, out).Output()
	if err != nil {
		t.Fatalf("nab_score.py: %v", err)
	}
	score, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		t.Fatalf("nab_score.py printed %q: %v", b, err)
	}
	t.Logf("seasonal series: %.1f (nab_score.py), %.2f (Go mirror)", score, goScore)
	if math.Abs(score-goScore) > 0.1 {
		t.Errorf("Go mirror of the scorer disagrees: %.2f vs %.1f", goScore, score)
	}
	if score < seasonalFloor {
		t.Errorf("seasonal score %.1f below %.1f", score, seasonalFloor)
	}
}
