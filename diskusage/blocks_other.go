//go:build !unix

package diskusage

import (
	"errors"
	"io/fs"
)

// allocated is the file's apparent size where the system does not say
// how many blocks it holds.
func allocated(info fs.FileInfo) int64 { return info.Size() }

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
