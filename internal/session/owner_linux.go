//go:build linux

package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ownerSocket is the abstract unix socket whose bound name is the claim on
// a network namespace's kill switch and routing.
//
// Why this and not a lock file: the abstract socket namespace belongs to the
// network namespace itself, so every process that could touch the same
// nftables table and ip rules sees the same name, whatever its mount
// namespace (/run differs between containers sharing one network
// namespace), user or file permissions (a daemon running as nobody with
// CAP_NET_ADMIN cannot lock a file root made under /run). The kernel
// releases the name when the last descriptor closes, so a process that dies
// any way at all, SIGKILL included, releases its claim at once; a name that
// can be bound therefore means no live owner, and whatever table or rules
// are found then are a leftover (persist, or a crash) to be replaced.
// The price: any process in the namespace may bind the name first. That
// only keeps wgtorrent from starting (nothing opens), and the refusal names
// the process that holds it.
var ownerSocket = "@wgtorrent/owner"

// ErrOwned means another live process owns this network namespace's kill
// switch and routing; the caller touched nothing (exit status 2).
var ErrOwned = errors.New("another wgtorrent owns the kill switch and routing of this network namespace")

// OwnerInfo describes the owner, as it answers on its socket.
type OwnerInfo struct {
	PID       int       `json:"pid"`
	Interface string    `json:"interface"`
	Mode      string    `json:"mode"`
	Since     time.Time `json:"since"`
}

func (o OwnerInfo) String() string {
	s := fmt.Sprintf("PID %d", o.PID)
	if o.Interface != "" {
		s += ", interface " + o.Interface
	}
	if o.Mode != "" {
		s += ", kill switch " + o.Mode
	}
	if !o.Since.IsZero() {
		s += ", since " + o.Since.Format(time.RFC3339)
	}
	return s
}

// Owner is this process's claim. Release gives it up; a second Release is
// harmless.
type Owner struct {
	ln   *net.UnixListener
	once sync.Once
	wg   sync.WaitGroup
}

// AcquireOwner claims the current network namespace, or returns an error
// wrapping ErrOwned that names the live owner.
func AcquireOwner(info OwnerInfo) (*Owner, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: ownerSocket, Net: "unix"})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w (%s): stop it first, or run this one in its own network namespace", ErrOwned, QueryOwner())
		}
		return nil, fmt.Errorf("session: claim the network namespace (abstract socket %s): %w", ownerSocket, err)
	}
	o := &Owner{ln: ln}
	answer, _ := json.Marshal(info)
	answer = append(answer, '\n')
	o.wg.Go(func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return // closed by Release
			}
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(answer)
			c.Close()
		}
	})
	return o, nil
}

// Release gives up the claim.
func (o *Owner) Release() {
	if o == nil {
		return
	}
	o.once.Do(func() {
		o.ln.Close()
		o.wg.Wait()
	})
}

// LiveOwner describes the live owner of this network namespace, if any,
// without claiming it.
func LiveOwner() (string, bool) {
	c, err := net.DialTimeout("unix", ownerSocket, time.Second)
	if err != nil {
		return "", false
	}
	c.Close()
	return QueryOwner(), true
}

// QueryOwner describes the process holding the claim, for messages: what
// it answers, else what the kernel says of the socket's peer.
func QueryOwner() string {
	c, err := net.DialTimeout("unix", ownerSocket, time.Second)
	if err != nil {
		return "owner unknown: " + err.Error()
	}
	defer c.Close()
	var cred *unix.Ucred
	if uc, ok := c.(*net.UnixConn); ok {
		if raw, err := uc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) {
				cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
			})
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	var info OwnerInfo
	if json.Unmarshal([]byte(strings.TrimSpace(string(buf[:n]))), &info) == nil && info.PID != 0 {
		return info.String()
	}
	if cred != nil {
		// SO_PEERCRED of a listening socket is its creator's.
		return fmt.Sprintf("PID %d, uid %d, which does not answer as wgtorrent: %s", cred.Pid, cred.Uid, procName(int(cred.Pid)))
	}
	return "owner does not answer"
}

func procName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "process not visible here"
	}
	return strings.TrimSpace(string(b))
}
