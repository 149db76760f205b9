package shards

import (
	"io/fs"
	"path/filepath"
)

// DirBytes is the size of the files under dir: what an index folder costs
// on disk, as the bench, the size breakdown and the Lucene comparison
// report it. Files that vanish while it walks (a merge) are skipped.
func DirBytes(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
