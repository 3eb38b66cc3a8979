package client

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// FileIOEnv and FileIOClassic select anacrolix's classic (pread/pwrite) file
// I/O. Its default, mmap, turns a full disk into SIGBUS (a crash, not an
// error) and logs EINVAL from unaligned msync on every piece. anacrolix reads
// the variable once, in its package init, so it must be in the environment
// before the process starts: call ReexecForClassicFileIO first thing in main.
const (
	FileIOEnv     = "TORRENT_STORAGE_DEFAULT_FILE_IO"
	FileIOClassic = "classic"
)

// ClassicFileIO reports whether this process runs with classic file I/O.
func ClassicFileIO() bool { return os.Getenv(FileIOEnv) == FileIOClassic }

// ReexecForClassicFileIO replaces the process with itself (same arguments,
// environment plus FileIOEnv=classic) unless that is already set. It only
// returns on error, or with nil when nothing had to be done.
func ReexecForClassicFileIO() error {
	if ClassicFileIO() {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("client: find own executable to re-exec with classic file I/O: %w", err)
	}
	// Drop any other value first: Getenv returns the first of duplicates,
	// so appending alone would re-exec forever.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, FileIOEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, FileIOEnv+"="+FileIOClassic)
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("client: re-exec with classic file I/O: %w", err)
	}
	return nil
}
