//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// asNobody runs transmission-remote against the daemon as user nobody,
// with no capabilities: any local user on a shared seedbox.
func asNobody(t *testing.T, h *netlab.Host, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "transmission-remote", daemonRPCAddr}, args...)
	out, err := h.Command(ctx, "setpriv", full...).CombinedOutput()
	return string(out), err
}

// TestDaemonTrustBoundary: a root daemon on its default loopback address
// is no way for another local user to write or read as root. Without a
// password only root and the daemon's user are answered; with one, the
// paths a client names must still lie in the daemon's folders, and a
// local file that is not a torrent gives nothing of itself away.
func TestDaemonTrustBoundary(t *testing.T) {
	needPrograms(t, "transmission-remote", "setpriv")
	lab, _, conf := newLab(t, netlab.Options{})
	cl := lab.Client
	data, out := t.TempDir(), t.TempDir()
	// Where an attacker wants root's files: root's own home.
	outside := filepath.Join("/root", "wgtorrent-lpe-proof-"+lab.ID)
	t.Cleanup(func() { os.RemoveAll(outside) })
	magnet := "magnet:?xt=urn:btih:" + randomHash(t)

	p := startWgtorrent(t, cl, daemonArgs(conf, data, out)...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)

	// Without a password: nobody is turned away at the door.
	o, err := asNobody(t, cl, "-a", magnet, "-w", outside)
	if err == nil || !strings.Contains(o, "403") {
		t.Errorf("nobody, no password: err %v, output:\n%s\nwant a refusal (403)", err, o)
	}
	if o, err := asNobody(t, cl, "-l"); err == nil {
		t.Errorf("nobody, no password, -l answered:\n%s", o)
	}
	// Root (the daemon's user) is answered, but not for paths outside
	// the daemon's folders, nor with the bytes of a file it read.
	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"download-dir outside", map[string]any{"filename": magnet, "download-dir": outside}, "outside the folders"},
		{"/etc/shadow", map[string]any{"filename": "/etc/shadow"}, "outside the folders"},
	} {
		res, _, err := c.result("torrent-add", tc.args)
		if err != nil || !strings.Contains(res, tc.want) || strings.Contains(res, "root:") || strings.Contains(res, "unknown value type") {
			t.Errorf("%s: result %q, %v; want %q and no byte of the file", tc.name, res, err, tc.want)
		}
	}
	if n := len(c.torrents(t)); n != 0 {
		t.Errorf("%d torrents added by refused requests", n)
	}
	stopDaemon(t, p)

	// With a password, nobody who knows it drives the daemon, within its
	// folders only.
	p = startWgtorrent(t, cl, daemonArgs(conf, data, out, "--rpc-username", "arr", "--rpc-password", "s3cret")...)
	c = newRPCClient(cl, daemonRPCAddr, "arr", "s3cret")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)
	if o, err := asNobody(t, cl, "-n", "arr:s3cret", "-a", magnet, "-w", outside); err == nil && strings.Contains(o, `"success"`) {
		t.Errorf("nobody with the password added into %s:\n%s", outside, o)
	}
	if o, err := asNobody(t, cl, "-n", "arr:s3cret", "-a", magnet, "-w", filepath.Join(out, "tv")); err != nil || !strings.Contains(o, `"success"`) {
		t.Errorf("nobody with the password, inside --out: %v\n%s", err, o)
	}
	if o, err := asNobody(t, cl, "-n", "arr:s3cret", "-l"); err != nil || !strings.Contains(o, "Sum:") {
		t.Errorf("nobody with the password, -l: %v\n%s", err, o)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("%s was created", outside)
	}
	stopDaemon(t, p)
	assertNothingLeft(t, cl)
}

// TestDaemonWorkerUnprivileged: a daemon started by root runs its engine
// and RPC as --user, with no capability and no way to gain one; what it
// downloads belongs to that user, and the tunnel and the kill switch keep
// working from the privileged half.
func TestDaemonWorkerUnprivileged(t *testing.T) {
	d := newDaemonLab(t, 0)
	cl := d.lab.Client
	base := t.TempDir()
	// The user must be able to reach its folders: open up the test's own
	// private temporary folders on the way.
	for p := base; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		must(t, os.Chmod(p, 0o755))
	}
	data, out := filepath.Join(base, "data"), filepath.Join(base, "downloads")
	p := startWgtorrent(t, cl, daemonArgs(d.conf, data, out, "--user", "nobody")...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)

	pid := childOf(t, p.Cmd.Process.Pid)
	status := procStatus(t, pid)
	t.Logf("engine process %d:\n%s", pid, status)
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(status, want) {
			t.Errorf("engine process status lacks %q", want)
		}
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); !strings.Contains(string(b), "NoNewPrivs:\t1") {
		t.Error("engine process may gain privileges (NoNewPrivs is not 1)")
	}
	if parent := procStatus(t, p.Cmd.Process.Pid); !strings.Contains(parent, "Uid:\t0\t") {
		t.Errorf("the tunnel's half is not root:\n%s", parent)
	}

	c.call(t, "torrent-add", map[string]any{"filename": d.main.magnet(d.lab)}, nil)
	c.waitTorrent(t, p, 1, 60*time.Second, "downloaded", func(x daemonTorrent) bool { return x.complete() })
	d.main.assertIdentical(t, "the unprivileged engine", out)
	must(t, filepath.Walk(out, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
			t.Errorf("%s belongs to uid %d, want nobody (65534)", path, uid)
		}
		return nil
	}))
	stopDaemon(t, p)
	assertNothingLeft(t, cl)
}

// childOf finds the one child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	must(t, err)
	var kids []int
	for _, f := range strings.Fields(string(b)) {
		var n int
		fmt.Sscan(f, &n)
		kids = append(kids, n)
	}
	// The children file lists those of the main thread only: look at all.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			var n int
			fmt.Sscan(f, &n)
			if !slices.Contains(kids, n) {
				kids = append(kids, n)
			}
		}
	}
	if len(kids) != 1 {
		t.Fatalf("process %d has children %v, want one (the engine's)", pid, kids)
	}
	return kids[0]
}
