//go:build linux

package rpc

import "syscall"

// freeSpace returns the bytes available to an unprivileged user and the
// file system's size.
func freeSpace(path string) (free, total int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * st.Bsize, int64(st.Blocks) * st.Bsize, nil
}
