package worker

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// User is who the worker runs as.
type User struct{ UID, GID uint32 }

// Command prepares the worker: this binary again (args select the worker
// command) as u, reading the protocol from its fd 3. The caller writes to
// the returned pipe and calls Start.
type Command struct {
	Cmd  *exec.Cmd
	Pipe *os.File // the parent's end: write Config, then Reports
	// NetNS, when above 0, is a descriptor of the network namespace the
	// worker starts in (the tunnel's private one): all it opens is inside.
	NetNS int
	exe   *os.File
	read  *os.File
}

// Descriptors the parent hands down, besides the protocol (3) and the
// binary (4): made in the parent's network namespace, where the RPC's
// clients are, whichever namespace the worker lives in.
const (
	RPCListenerFD = 5 // the RPC's listening socket
	SockDiagFD    = 6 // a NETLINK_SOCK_DIAG socket, to tell who calls the RPC
)

// NewCommand builds the worker's command. The binary is run through an
// open descriptor of /proc/self/exe: the user may not be able to reach
// its path (a private build directory), only the file itself.
//
// files become the worker's descriptors from 5 on (RPCListenerFD, ...).
func NewCommand(u User, files []*os.File, args ...string) (*Command, error) {
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("worker: open own binary: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		exe.Close()
		return nil, fmt.Errorf("worker: pipe: %w", err)
	}
	// fd 3 is the protocol, fd 4 the binary being executed (the child
	// closes it once running).
	cmd := exec.Command("/proc/self/fd/4", args...)
	cmd.Args[0] = "wgtorrent-worker"
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = append([]*os.File{r, exe}, files...)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if u.UID != uint32(os.Geteuid()) || u.GID != uint32(os.Getegid()) {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}
	}
	return &Command{Cmd: cmd, Pipe: w, exe: exe, read: r}, nil
}

// Start starts the worker from a thread that first gives up, for itself
// and so for the child, every capability it could pass on: the ambient
// set, the bounding set (when it may), and the right to gain new ones
// (no_new_privs). The thread then ends; the rest of this process keeps
// its privileges.
func (c *Command) Start() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime ends this thread
		if c.NetNS > 0 {
			// The child is forked from this thread, and so starts in
			// the namespace it is in.
			if err := unix.Setns(c.NetNS, unix.CLONE_NEWNET); err != nil {
				errc <- fmt.Errorf("worker: enter the private network namespace: %w", err)
				return
			}
		}
		if err := dropForChild(); err != nil {
			errc <- err
			return
		}
		errc <- c.Cmd.Start()
	}()
	err := <-errc
	c.exe.Close()
	c.read.Close()
	if err != nil {
		c.Pipe.Close()
		return fmt.Errorf("worker: start: %w", err)
	}
	return nil
}

func dropForChild() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("worker: no_new_privs: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("worker: clear ambient capabilities: %w", err)
	}
	// The inheritable set survives exec (capsh --caps=...+i in a container
	// sets it); empty it so that the worker holds nothing at all.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("worker: read capabilities: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("worker: clear inheritable capabilities: %w", err)
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	for cp := 0; cp <= last; cp++ {
		// EPERM without CAP_SETPCAP: then the bounding set does not
		// matter, the child cannot be root with capabilities anyway
		// (the check in the child says for sure).
		_ = unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(cp), 0, 0, 0)
	}
	return nil
}

func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("worker: read cap_last_cap: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("worker: cap_last_cap: %w", err)
	}
	return n, nil
}

// Inherited is the descriptor fd the parent handed down, or nil.
func Inherited(fd int, name string) *os.File {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name)
}

// Input is the worker's end of the protocol, its fd 3. It also closes fd
// 4, the binary it was started from.
func Input() *os.File {
	unix.Close(4)
	return os.NewFile(3, "worker-input")
}
