package node

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// reloaded is a file the node reads again whenever it changed (its size
// or modification time), so that a field engineer edits it without a
// restart: the users file, the tokens file.
type reloaded[T any] struct {
	key   string // the configuration key, for errors
	path  string
	parse func([]byte) (T, error)

	mu     sync.Mutex
	loaded bool
	mod    time.Time
	size   int64
	val    T
	err    error
}

// get returns the file's content as it is now. The value is never changed
// after it is made, so callers may keep reading it.
func (f *reloaded[T]) get() (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", f.key, err)
	}
	if !f.loaded || !fi.ModTime().Equal(f.mod) || fi.Size() != f.size {
		f.loaded, f.mod, f.size = true, fi.ModTime(), fi.Size()
		var zero T
		f.val, f.err = zero, nil
		data, err := os.ReadFile(f.path)
		if err == nil {
			f.val, err = f.parse(data)
		}
		if err != nil {
			f.err = fmt.Errorf("%s %s: %w", f.key, f.path, err)
		}
	}
	return f.val, f.err
}
