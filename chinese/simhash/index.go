package simhash

import (
	"fmt"
	"sync"
)

// Index finds, for a new fingerprint, a stored one within the threshold and
// hands out cluster ids. It splits the 64 bits into threshold+1 blocks: by
// the pigeonhole principle two fingerprints within the threshold agree
// exactly on at least one block, so a lookup only compares against entries
// sharing a block value instead of scanning everything.
//
// Index is safe for concurrent use. It does not persist itself; the owner
// stores each Entry and replays them with Add on start-up.
type Index struct {
	threshold int
	mu        sync.Mutex
	blocks    []map[uint64][]int
	entries   []Entry
	byID      map[string]int
}

// Entry is one fingerprinted document and the cluster it joined.
type Entry struct {
	ID          string `json:"id"`
	Fingerprint uint64 `json:"fp"`
	// Cluster is the fingerprint of the cluster's first member, never 0
	// (posts.Post reserves 0 for "not clustered").
	Cluster uint64 `json:"cluster"`
}

// NewIndex returns an empty index. threshold must be in [0, 15].
func NewIndex(threshold int) (*Index, error) {
	if threshold < 0 || threshold > 15 {
		return nil, fmt.Errorf("simhash threshold %d: must be between 0 and 15", threshold)
	}
	ix := &Index{threshold: threshold, byID: map[string]int{}}
	ix.blocks = make([]map[uint64][]int, threshold+1)
	for i := range ix.blocks {
		ix.blocks[i] = map[uint64][]int{}
	}
	return ix, nil
}

func (ix *Index) block(fp uint64, b int) uint64 {
	n := len(ix.blocks)
	lo := b * 64 / n
	hi := (b + 1) * 64 / n
	width := uint(hi - lo)
	mask := uint64(1)<<width - 1
	if width == 64 {
		mask = ^uint64(0)
	}
	return (fp >> uint(lo)) & mask
}

// Assign returns the cluster of id: its earlier assignment if id was seen
// before (so a replayed post keeps its cluster), else the cluster of the
// closest stored fingerprint within the threshold, else a new cluster named
// by fp itself. The new entry is added and returned so that the caller can
// persist it; added is false when nothing changed.
func (ix *Index) Assign(id string, fp uint64) (e Entry, added bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if i, ok := ix.byID[id]; ok {
		return ix.entries[i], false
	}
	cluster := fp
	if cluster == 0 {
		cluster = 1
	}
	best, bestIdx := ix.threshold+1, -1
	for b := range ix.blocks {
		for _, i := range ix.blocks[b][ix.block(fp, b)] {
			d := Distance(fp, ix.entries[i].Fingerprint)
			// Ties go to the earliest entry, so the choice is stable.
			if d < best || (d == best && i < bestIdx) {
				best, bestIdx = d, i
			}
		}
	}
	if bestIdx >= 0 {
		cluster = ix.entries[bestIdx].Cluster
	}
	e = Entry{ID: id, Fingerprint: fp, Cluster: cluster}
	ix.addLocked(e)
	return e, true
}

// Add restores a persisted entry without searching.
func (ix *Index) Add(e Entry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.byID[e.ID]; ok {
		return
	}
	ix.addLocked(e)
}

func (ix *Index) addLocked(e Entry) {
	i := len(ix.entries)
	ix.entries = append(ix.entries, e)
	ix.byID[e.ID] = i
	for b := range ix.blocks {
		k := ix.block(e.Fingerprint, b)
		ix.blocks[b][k] = append(ix.blocks[b][k], i)
	}
}

// Len is the number of entries.
func (ix *Index) Len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.entries)
}
