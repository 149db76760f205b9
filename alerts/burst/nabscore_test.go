package burst

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// nabSeries is one labelled series of the nab-tweets corpus.
type nabSeries struct {
	name    string
	pts     []Point
	windows [][2]time.Time
}

func loadNAB(dir string) ([]nabSeries, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "windows.json"))
	if err != nil {
		return nil, fmt.Errorf("read windows: %w", err)
	}
	var wins map[string][][2]string
	if err := json.Unmarshal(raw, &wins); err != nil {
		return nil, fmt.Errorf("decode windows: %w", err)
	}
	names := make([]string, 0, len(wins))
	for k := range wins {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []nabSeries
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			return nil, fmt.Errorf("open series: %w", err)
		}
		pts, err := ReadSeries(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s := nabSeries{name: filepath.Base(name), pts: pts}
		for _, w := range wins[name] {
			a, err := ParseTime(w[0])
			if err != nil {
				return nil, err
			}
			b, err := ParseTime(w[1])
			if err != nil {
				return nil, err
			}
			s.windows = append(s.windows, [2]time.Time{a, b})
		}
		out = append(out, s)
	}
	return out, nil
}

func nabSig(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// nabRaw mirrors nab_score.py's raw_score for the standard profile (tp 1,
// fp 0.11, fn 1); the Python scorer stays the judge, this gives the
// per-series breakdown quickly.
func nabRaw(s nabSeries, alerts []bool) (float64, int) {
	n := len(s.pts)
	prob := int(math.Floor(0.15 * float64(n)))
	if prob > 750 {
		prob = 750
	}
	type win struct {
		a, b int
		hit  bool
	}
	var wins []*win
	for _, w := range s.windows {
		first, lastI := -1, -1
		for i, p := range s.pts {
			tt := p.Time.Truncate(time.Second)
			if !tt.Before(w[0].Truncate(time.Second)) && !tt.After(w[1].Truncate(time.Second)) {
				if first < 0 {
					first = i
				}
				lastI = i
			}
		}
		if first >= 0 {
			wins = append(wins, &win{a: first, b: lastI})
		}
	}
	score := 0.0
	wi := 0
	var prev *win
	for i := 0; i < n; i++ {
		for wi < len(wins) && wins[wi].b < i {
			prev = wins[wi]
			wi++
		}
		inside := wi < len(wins) && wins[wi].a <= i && i <= wins[wi].b
		if !alerts[i] || i < prob {
			continue
		}
		switch {
		case inside:
			w := wins[wi]
			if !w.hit {
				length := float64(w.b - w.a + 1)
				score += nabSig(-float64(w.b-i+1)/length) / nabSig(-1)
				w.hit = true
			}
		case prev != nil:
			width := float64(prev.b - prev.a + 1)
			score += 0.11 * nabSig(math.Abs(float64(prev.b-i))/(width-1))
		default:
			score -= 0.11
		}
	}
	for _, w := range wins {
		if !w.hit {
			score--
		}
	}
	return score, len(wins)
}

func nabNormalized(raw float64, nwin int) float64 {
	return 100 * (raw + float64(nwin)) / (2 * float64(nwin))
}
