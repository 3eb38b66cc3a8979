//go:build linux

package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
)

// TestDaemonEmacsTransmission: Emacs's transmission.el (Debian's
// elpa-transmission), in a real terminal, lists 21 torrents and opens the
// detail view of one; it used to hang on any answer over 2048 bytes, which
// went out chunked without a Content-Length.
func TestDaemonEmacsTransmission(t *testing.T) {
	needPrograms(t, "tmux", "emacs")
	if _, err := os.Stat("/usr/share/emacs/site-lisp/elpa-src/transmission-0.12.2"); err != nil {
		testenv.Unavailable(t, "transmission.el is missing (Debian package elpa-transmission): %v", err)
	}
	d := newDaemonLab(t, 1)
	cl, local := d.lab.Client, d.locals[0]
	p, c, _ := seedingDaemon(t, d)
	var names []string
	for i := range 20 {
		name := fmt.Sprintf("emacs-listed-%02d", i+1)
		names = append(names, name)
		c.call(t, "torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + randomHash(t) + "&dn=" + name, "paused": true}, nil)
	}

	elisp := fmt.Sprintf(`(progn (require 'transmission) (setq transmission-host "127.0.0.1" transmission-service %d) (transmission) (delete-other-windows))`, 9091)
	term := startTmux(t, cl.NetNS, "emacs", "-nw", "-q", "--eval", elisp)
	list := term.waitFor(30*time.Second, "the list of all 21 torrents", func(sc string) bool {
		for _, n := range append(names, local.Name) {
			if !strings.Contains(sc, n) {
				return false
			}
		}
		return true
	})
	t.Logf("transmission.el's list:\n%s", firstLines(list, 6))

	// The detail view: find the seeding torrent's line, then i.
	term.keys("C-s")
	term.typeText(local.Name)
	term.keys("Enter", "i")
	info := term.waitFor(20*time.Second, "the detail view of the seeding torrent", func(sc string) bool {
		return strings.Contains(sc, "Hash: "+local.InfoHash) && strings.Contains(sc, "Location: ")
	})
	t.Logf("transmission.el's detail view:\n%s", firstLines(info, 12))
	term.keys("C-x", "C-c")
	if code := term.waitExit(20 * time.Second); code != 0 {
		t.Errorf("emacs exit status %d, want 0", code)
	}
	stopDaemon(t, p)
}
