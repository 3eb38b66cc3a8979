package rpc

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalCallers: without a password, the kernel's word on who owns the
// calling socket decides; another local user is turned away.
func TestLocalCallers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		uid    uint32
		err    error
		status int
	}{
		{"root", 0, nil, 409}, // 409: admitted, asked for the session id
		{"the daemon's user", uint32(os.Geteuid()), nil, 409},
		{"another user", 65534, nil, 403},
		{"unknown", 0, errors.New("no sock_diag"), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.uid == 65534 && os.Geteuid() == 65534 {
				t.Skip("running as nobody")
			}
			h := newHarness(t, func(o *Options) {
				o.PeerUID = func(net.Addr, net.Addr) (uint32, error) { return tc.uid, tc.err }
			})
			resp, text := h.post("/transmission/rpc", `{"method":"session-get"}`, nil)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, text)
			}
			if tc.status == 403 && !strings.Contains(text, "username and password") {
				t.Errorf("refusal %q does not say what to do", text)
			}
		})
	}
	// With a password, the password decides, for every caller.
	h := newHarness(t, func(o *Options) {
		o.Username, o.Password = "u", "p"
		o.PeerUID = func(net.Addr, net.Addr) (uint32, error) { return 65534, nil }
	})
	if resp, _ := h.post("/transmission/rpc", `{"method":"session-get"}`, map[string]string{"Authorization": "Basic dTpw"}); resp.StatusCode != 409 {
		t.Errorf("with the password: status %d, want 409", resp.StatusCode)
	}
}

// TestSocketUID asks the real kernel who owns a loopback connection.
func TestSocketUID(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	uid, err := socketUID(s.RemoteAddr(), s.LocalAddr())
	if err != nil || uid != uint32(os.Geteuid()) {
		t.Fatalf("socketUID = %d, %v; want %d", uid, err, os.Geteuid())
	}
}

// TestPathsConfined: every path a caller names must resolve inside the
// roots; symlinks out of them do not count, and a refused file's bytes
// never come back.
func TestPathsConfined(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	if err := os.WriteFile(secret, []byte("root:$6$secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	notTorrent := filepath.Join(root, "x.torrent")
	if err := os.WriteFile(notTorrent, []byte("root:$6$secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *Options) {
		o.DownloadDir = root
		o.WritableRoots, o.ReadableRoots = nil, nil
	})
	for _, tc := range []struct {
		method string
		args   map[string]any
		want   string
	}{
		{"torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20), "download-dir": "/root/lpe-proof"}, "outside the folders"},
		{"torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20), "download-dir": filepath.Join(root, "escape", "x")}, "outside the folders"},
		{"torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20), "download-dir": root + "/../" + filepath.Base(outside)}, "outside the folders"},
		{"torrent-add", map[string]any{"filename": "/etc/shadow"}, "outside the folders"},
		{"torrent-add", map[string]any{"filename": filepath.Join(root, "escape", "shadow")}, "outside the folders"},
		{"torrent-add", map[string]any{"filename": notTorrent}, "is not a .torrent file"},
		{"session-set", map[string]any{"download-dir": "/etc/cron.d"}, "outside the folders"},
		{"torrent-set-location", map[string]any{"ids": []int{1}, "location": "/root"}, "outside the folders"},
	} {
		res, _ := h.call(tc.method, tc.args)
		if !strings.Contains(res, tc.want) || strings.Contains(res, "$6$") || strings.Contains(res, "unknown value type") {
			t.Errorf("%s %v: result %q, want %q and no byte of the file", tc.method, tc.args, res, tc.want)
		}
	}
	if _, err := os.Stat("/root/lpe-proof"); err == nil {
		t.Error("/root/lpe-proof exists")
	}
	// Inside the root, a folder that does not exist yet is fine.
	res, _ := h.call("torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("cd", 20), "download-dir": filepath.Join(root, "tv", "new")})
	if res != success {
		t.Errorf("download-dir inside the root: %q", res)
	}
}
