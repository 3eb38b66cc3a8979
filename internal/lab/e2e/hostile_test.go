//go:build linux

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/scriptedpeer"
)

// startHostilePeer runs a scripted peer on the lab's peer host serving
// info: handshake, ut_metadata, a bitfield with piece 0, unchoke.
func startHostilePeer(t *testing.T, lab *netlab.Lab, info []byte) (*scriptedpeer.Peer, netip.AddrPort) {
	t.Helper()
	ln, err := lab.Peer.ListenTCP(net.JoinHostPort(lab.Peer.Addr4.String(), "0"))
	must(t, err)
	p := scriptedpeer.Start(ln, info)
	t.Cleanup(p.Close)
	return p, netip.AddrPortFrom(lab.Peer.Addr4, uint16(ln.Addr().(*net.TCPAddr).Port))
}

func assertNoPanic(t *testing.T, who string, p *proc) {
	t.Helper()
	if s := p.Stderr(); strings.Contains(s, "panic:") || strings.Contains(s, "goroutine ") {
		t.Errorf("%s panicked:\n%s", who, s)
	}
}

// TestHostilePieceLength is issue 18's crash, tried as an attacker would:
// valid bencode, a correct info hash, a piece length of 2^40, and a peer
// that has piece 0 and unchokes. By --torrent it is refused up front, by
// magnet its metadata is refused and that torrent alone ends in an error
// state; by RPC torrent-add the daemon refuses the metainfo, stops the
// magnet, keeps downloading its other torrent, and survives a restart with
// the refused magnet saved. No panic anywhere, and nothing leaks.
func TestHostilePieceLength(t *testing.T) {
	d := newDaemonLab(t, 0)
	cl := d.lab.Client
	info := scriptedpeer.HugePieceLength()
	peer, paddr := startHostilePeer(t, d.lab, info)
	capt := startLeakCapture(t, d.lab, d.srv.Endpoint())
	file := filepath.Join(t.TempDir(), "huge-pieces.torrent")
	must(t, os.WriteFile(file, scriptedpeer.TorrentFile(info), 0o644))
	magnet := scriptedpeer.Magnet(info) + "&dn=huge-pieces&x.pe=" + url.QueryEscape(paddr.String())
	args := func(extra ...string) []string {
		return append([]string{"--config", d.conf, "--out", t.TempDir(), "--data", t.TempDir(), "--json", "--no-dht"}, extra...)
	}

	t.Run("torrent file", func(t *testing.T) {
		p := startWgtorrent(t, cl, args("--torrent", file, "--peer", paddr.String())...)
		code := p.wait(30 * time.Second)
		stderr := p.Stderr()
		if code != 2 || !strings.Contains(stderr, `"piece length"`) || !strings.Contains(stderr, "268435456") {
			t.Errorf("exit %d, stderr %q; want 2 and an error naming the piece length and its limit", code, stderr)
		}
		assertNoPanic(t, "wgtorrent --torrent", p)
	})

	t.Run("magnet", func(t *testing.T) {
		p := startWgtorrent(t, cl, args("--magnet", magnet)...)
		st := p.waitLine(60*time.Second, "the torrent in error", func(m map[string]any) bool { return m["state"] == "error" })
		if e, _ := st["error"].(string); !strings.Contains(e, "piece length") {
			t.Errorf("error %q does not name the piece length", e)
		}
		if code := p.wait(30 * time.Second); code != 1 {
			t.Errorf("exit %d, want 1 (a torrent in error)", code)
		}
		assertNoPanic(t, "wgtorrent --magnet", p)
		if peer.MetaSent.Load() == 0 {
			t.Errorf("the scripted peer sent no metadata: the refusal proves nothing")
		}
		assertNothingLeft(t, cl)
	})

	t.Run("daemon", func(t *testing.T) {
		data, out := t.TempDir(), t.TempDir()
		dargs := daemonArgs(d.conf, data, out, "--max-download-rate", "1MiB")
		p := startWgtorrent(t, cl, dargs...)
		c := newRPCClient(cl, daemonRPCAddr, "", "")
		c.waitHealth(t, p, http.StatusOK, 20*time.Second)
		good := c.addFile(t, d.main.File, nil)
		c.waitTorrent(t, p, good, 30*time.Second, "downloading", func(x daemonTorrent) bool { return x.HaveValid > 0 })

		res, _, err := c.result("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(scriptedpeer.TorrentFile(info))})
		must(t, err)
		if res == "success" || !strings.Contains(res, "piece length") || !strings.Contains(res, "268435456") {
			t.Errorf("torrent-add of the metainfo: %q; want an error naming the piece length and its limit", res)
		}
		res, raw, err := c.result("torrent-add", map[string]any{"filename": magnet})
		must(t, err)
		var added map[string]struct {
			ID int `json:"id"`
		}
		if res != "success" || json.Unmarshal(raw, &added) != nil || added["torrent-added"].ID == 0 {
			t.Fatalf("torrent-add of the magnet: %q %s", res, raw)
		}
		bad := added["torrent-added"].ID
		x := c.waitTorrent(t, p, bad, 60*time.Second, "in error", func(x daemonTorrent) bool { return x.Error != 0 })
		if !strings.Contains(x.ErrorString, "piece length") {
			t.Errorf("errorString %q does not name the piece length", x.ErrorString)
		}
		before := c.torrents(t)[good]
		if before.complete() {
			t.Logf("note: the good torrent completed before the refusal (%v): the rate limit did not hold", before)
		}
		c.waitTorrent(t, p, good, 60*time.Second, "downloaded after the refusal", func(x daemonTorrent) bool { return x.complete() })
		d.main.assertIdentical(t, "daemon download beside a hostile torrent", out)
		if n := peer.Requests.Load(); n != 0 {
			t.Errorf("%d block requests reached the scripted peer", n)
		}
		stopDaemon(t, p)
		assertNoPanic(t, "daemon", p)

		// Restart: the saved magnet comes back in error, without a crash.
		p2 := startWgtorrent(t, cl, dargs...)
		c.waitHealth(t, p2, http.StatusOK, 20*time.Second)
		all := c.torrents(t)
		if len(all) != 2 {
			t.Errorf("after a restart %d torrents, want 2: %v", len(all), all)
		}
		for _, x := range all {
			if x.HashString == scriptedpeer.Magnet(info)[len("magnet:?xt=urn:btih:"):] && x.Error == 0 {
				t.Errorf("the refused magnet came back without its error: %v", x)
			}
		}
		time.Sleep(3 * time.Second) // time for the peer to show up again
		stopDaemon(t, p2)
		assertNoPanic(t, "daemon after a restart", p2)
	})
	capt.assertNoLeaks(t, "hostile torrents")
}
