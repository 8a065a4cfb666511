// Package diskusage measures what a directory's files take on disk, as du
// does: the blocks allocated to them, not their apparent sizes. Badger
// preallocates its value log (a 2 GiB file that holds a few kilobytes
// reports 2 GiB to stat and to badger.DB.Size), and a store's size
// metric must show the data instead.
package diskusage

import (
	"fmt"
	"io/fs"
	"path/filepath"
)

// Of returns the bytes allocated on disk to the regular files under the
// directories (each counted once), walked recursively. A file that
// vanishes during the walk (Badger compacting) is skipped.
func Of(dirs ...string) (int64, error) {
	var total int64
	seen := map[string]bool{}
	for _, dir := range dirs {
		if dir == "" || seen[filepath.Clean(dir)] {
			continue
		}
		seen[filepath.Clean(dir)] = true
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if path != dir && isNotExist(err) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				if isNotExist(err) {
					return nil
				}
				return err
			}
			total += allocated(info)
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("measure %s: %w", dir, err)
		}
	}
	return total, nil
}
