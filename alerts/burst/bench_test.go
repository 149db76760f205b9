package burst

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// BenchmarkUpdate is the cost of one bucket of one series.
func BenchmarkUpdate(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = poisson(rng, daily(30, 6)(t0+int64(i)*bucket))
	}
	var s State
	for i := 0; i < 2*288; i++ {
		s.Update(t0+int64(i)*bucket, vals[i%len(vals)])
	}
	ts := t0 + 2*288*bucket
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ts += bucket
		s.Update(ts, vals[i%len(vals)])
	}
}

// BenchmarkBucket200k is one bucket for 200,000 tracked terms: every state
// updated once, as the term counter's flush does. The goal is under 2 s.
func BenchmarkBucket200k(b *testing.B) {
	const terms = 200_000
	const distinct = 1000
	rng := rand.New(rand.NewPCG(7, 8))
	warm := make([]State, distinct)
	means := make([]float64, distinct)
	for j := range warm {
		means[j] = 0.05 * float64(1+j%400)
		f := daily(means[j], 1+float64(j%7))
		for i := 0; i < 2*288; i++ {
			ts := t0 + int64(i)*bucket
			warm[j].Update(ts, poisson(rng, f(ts)))
		}
	}
	states := make([]State, terms)
	vals := make([]float64, terms)
	for j := range states {
		states[j] = warm[j%distinct]
		vals[j] = poisson(rng, means[j%distinct])
	}
	ts := t0 + 2*288*bucket
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ts += bucket
		for j := range states {
			states[j].Update(ts, vals[j])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/terms, "ns/update")
	b.ReportMetric(float64(StateSize), "bytes/series-saved")
	b.ReportMetric(float64(unsafe.Sizeof(State{})), "bytes/series-memory")
}
