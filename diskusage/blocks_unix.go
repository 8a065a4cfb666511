//go:build unix

package diskusage

import (
	"errors"
	"io/fs"
	"syscall"
)

// allocated is the file's allocated blocks (st_blocks, in 512-byte units).
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
