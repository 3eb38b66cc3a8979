//go:build linux

// Package userns lets an ordinary user run wgtorrent's private network
// namespace (--isolation namespace) without root: wgtorrent runs itself
// again inside a user namespace of its own, as the same user, holding
// CAP_SYS_ADMIN and CAP_NET_ADMIN over the namespaces it creates and
// nothing over the host's.
//
// Why a re-exec: a multithreaded process (every Go program) cannot enter
// a new user namespace itself; clone(2) gives one to a new process. The
// copy stays in the host's network namespace, so the WireGuard socket it
// opens there is an ordinary user's UDP socket, and it creates the private
// network namespace, the TUN device and the inner kill switch as it does
// under root (internal/netns): those belong to its user namespace.
package userns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// envInside marks the copy, so that it does not start another.
const envInside = "WGTORRENT_USERNS"

// Inside reports whether this process is the copy that Run started.
func Inside() bool { return os.Getenv(envInside) == "1" }

// Needed reports whether this process must go through Run before it can
// make a network namespace: it is neither root nor the copy.
func Needed() bool { return os.Geteuid() != 0 && !Inside() }

// Run starts this program again, with the same arguments, standard
// streams and environment, in a new user namespace, and waits for it.
// Signals that would end this process are passed on, so the copy tears
// down in order; if this process dies anyway, the copy gets SIGTERM. It
// returns the copy's exit status (128+n for a signal n).
func Run(ctx context.Context) (int, error) {
	if err := Check(); err != nil {
		return 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("userns: find this program: %w", err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envInside+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER,
		// The same user inside as outside: files are the user's, and
		// nothing in the copy believes it is root.
		UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
		// A non-root user keeps capabilities across exec only as ambient
		// ones. They count in this user namespace only: the namespaces
		// the copy creates (network, for the tunnel), not the host's.
		AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN, unix.CAP_NET_RAW},
		Pdeathsig:   syscall.SIGTERM,
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, explain(fmt.Errorf("userns: start in a user namespace of its own: %w", err))
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("userns: %w", err)
	}
	return 0, nil
}

// Check names what stops this user from running in a namespace of its
// own, before anything starts: the TUN device and the kernel's settings.
func Check() error {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: %w. "+
			"Run as root, or let your user open the TUN device (desktop distributions make it mode 0666; "+
			"Debian's udev package does so)", ErrUnsupported, err)
	}
	f.Close()
	return explain(nil)
}

// ErrUnsupported marks a machine where an ordinary user cannot have a
// network namespace: the message says why and the ways out.
var ErrUnsupported = errors.New("no private network namespace without root here")

// explain adds to err (or reports, when err is nil) the kernel setting
// that forbids an unprivileged user namespace, with the ways out.
func explain(err error) error {
	switch {
	case sysctl("kernel/unprivileged_userns_clone") == "0":
		return fmt.Errorf("%w: the kernel forbids user namespaces to ordinary users (kernel.unprivileged_userns_clone = 0). "+
			"Run as root, or allow them: sysctl kernel.unprivileged_userns_clone=1", ErrUnsupported)
	case sysctl("user/max_user_namespaces") == "0":
		return fmt.Errorf("%w: the kernel allows no user namespaces (user.max_user_namespaces = 0). "+
			"Run as root, or allow them: sysctl user.max_user_namespaces=10000", ErrUnsupported)
	}
	return err
}

// Denied explains a refusal to create the private network namespace: in
// the copy, on Ubuntu 23.10 and later, AppArmor confines an unconfined
// program's user namespace to no capabilities at all; as root, the
// capability is missing (a container).
func Denied(err error) error {
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	if !Inside() {
		// Root without CAP_SYS_ADMIN: a container, as a rule.
		return fmt.Errorf("%w: creating a network namespace needs CAP_SYS_ADMIN; "+
			"in a container, which is already a namespace of its own, use --isolation host", err)
	}
	if sysctl("kernel/apparmor_restrict_unprivileged_userns") == "1" {
		return fmt.Errorf("%w: %w. AppArmor gives user namespaces no capabilities here (kernel.apparmor_restrict_unprivileged_userns = 1, "+
			"Ubuntu's default since 23.10). Run as root, or install the profile shipped in deploy/apparmor/wgtorrent "+
			"for this binary (see the README)", ErrUnsupported, err)
	}
	return fmt.Errorf("%w: %w", ErrUnsupported, err)
}

// sysctl reads /proc/sys/name; a variable for tests.
var sysctl = func(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
