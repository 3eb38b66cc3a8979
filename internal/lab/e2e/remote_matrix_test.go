//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDaemonTransmissionRemoteMatrix: transmission-remote 3.00's everyday
// options against a daemon with a password, each checked by its effect in
// the engine (over RPC, exact values), on disk, or on the clock; never by
// the word "success" alone. TestDaemonTransmissionRemote covers list,
// info, stop/start, verify, remove and the session screens.
func TestDaemonTransmissionRemoteMatrix(t *testing.T) {
	needPrograms(t, "transmission-remote")
	d := newDaemonLab(t, 2)
	cl := d.lab.Client
	first, second := d.locals[0], d.locals[1]
	data, out, moveTo, findIn := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	first.copyTo(t, out)
	second.copyTo(t, out)
	first.copyTo(t, findIn)
	p := startWgtorrent(t, cl, daemonArgs(d.conf, data, out,
		"--rpc-username", "sonarr", "--rpc-password", "s3cret", "--rpc-allowed-path", moveTo+","+findIn)...)
	c := newRPCClient(cl, daemonRPCAddr, "sonarr", "s3cret")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)
	tr := func(args ...string) string { return remote(t, cl, append([]string{"-n", "sonarr:s3cret"}, args...)...) }
	ok := func(args ...string) {
		t.Helper()
		remoteOK(t, cl, append([]string{"-n", "sonarr:s3cret"}, args...)...)
	}
	torrent := func(id int, fields ...string) map[string]any {
		t.Helper()
		var res struct{ Torrents []map[string]any }
		c.call(t, "torrent-get", map[string]any{"ids": []int{id}, "fields": fields}, &res)
		if len(res.Torrents) != 1 {
			t.Fatalf("torrent %d: %d found", id, len(res.Torrents))
		}
		return res.Torrents[0]
	}
	session := func() map[string]any {
		t.Helper()
		var res map[string]any
		c.call(t, "session-get", nil, &res)
		return res
	}
	expect := func(what string, got map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			g, _ := json.Marshal(got[k])
			w, _ := json.Marshal(v)
			if string(g) != string(w) {
				t.Errorf("%s: %s = %s, want %s", what, k, g, w)
			}
		}
	}

	// Auth: without the password, nothing.
	if o, err := remoteErr(cl, "-l"); err == nil || !strings.Contains(o, "401") {
		t.Errorf("transmission-remote -l without -n: %v\n%s", err, o)
	}

	// --start-paused, then -a FILE: added and paused; --no-start-paused.
	ok("--start-paused")
	expect("--start-paused", session(), map[string]any{"start-added-torrents": false})
	ok("-a", first.File)
	c.waitTorrent(t, p, 1, 20*time.Second, "added paused", func(x daemonTorrent) bool { return x.Status == 0 && x.complete() })
	ok("--no-start-paused")
	ok("-a", second.File)
	c.waitTorrent(t, p, 2, 20*time.Second, "added and seeding", func(x daemonTorrent) bool { return x.Status == 6 })
	ok("-t", "1", "-s")
	c.waitTorrent(t, p, 1, 20*time.Second, "started and seeding", func(x daemonTorrent) bool { return x.Status == 6 })

	// -f lists the files; -G/-g unwanted and wanted; -ph/-pn; -pl refused.
	files := tr("-t", "1", "-f")
	for _, want := range []string{"one.bin", "dir/two.bin", "2 files"} {
		if !strings.Contains(files, want) {
			t.Errorf("-t 1 -f lacks %q:\n%s", want, files)
		}
	}
	ok("-t", "1", "-G", "1")
	expect("-G 1", torrent(1, "wanted"), map[string]any{"wanted": []int{1, 0}})
	ok("-t", "1", "-g", "1")
	ok("-t", "1", "-ph", "0")
	expect("-g 1 -ph 0", torrent(1, "wanted", "priorities"), map[string]any{"wanted": []int{1, 1}, "priorities": []int{1, 0}})
	ok("-t", "1", "-pn", "0")
	expect("-pn 0", torrent(1, "priorities"), map[string]any{"priorities": []int{0, 0}})
	if o, err := remoteErr(cl, "-n", "sonarr:s3cret", "-t", "1", "-pl", "0"); err == nil && strings.Contains(o, `"success"`) || !strings.Contains(o, "priority-low") {
		t.Errorf("-pl: want an error naming priority-low, got (%v):\n%s", err, o)
	}

	// --reannounce: the announce goes now, or, within the tracker's min
	// interval (opentracker sends one), is brought forward to it.
	announce := func() (last, next float64) {
		t.Helper()
		ts, _ := torrent(1, "trackerStats")["trackerStats"].([]any)
		if len(ts) != 1 {
			t.Fatalf("trackerStats %v, want one tracker", ts)
		}
		m := ts[0].(map[string]any)
		last, _ = m["lastAnnounceTime"].(float64)
		next, _ = m["nextAnnounceTime"].(float64)
		return last, next
	}
	var last0, next0 float64
	pollDaemon(t, p, 20*time.Second, "torrent 1 announced", func() (bool, string) {
		last0, next0 = announce()
		return last0 > 0, ""
	})
	ok("-t", "1", "--reannounce")
	pollDaemon(t, p, 20*time.Second, "the reannounce sent or brought forward", func() (bool, string) {
		last, next := announce()
		return last > last0 || next < next0, fmt.Sprintf("last %v next %v, before %v %v", last, next, last0, next0)
	})

	// Per-torrent limits, seeding ratio, labels.
	ok("-t", "2", "-d", "300", "-u", "40")
	expect("-t 2 -d 300 -u 40", torrent(2, "downloadLimit", "downloadLimited", "uploadLimit", "uploadLimited"),
		map[string]any{"downloadLimit": 300, "downloadLimited": true, "uploadLimit": 40, "uploadLimited": true})
	ok("-t", "2", "-D", "-U")
	expect("-t 2 -D -U", torrent(2, "downloadLimited", "uploadLimited"), map[string]any{"downloadLimited": false, "uploadLimited": false})
	ok("-t", "2", "-sr", "2.5")
	expect("-sr 2.5", torrent(2, "seedRatioLimit", "seedRatioMode"), map[string]any{"seedRatioLimit": 2.5, "seedRatioMode": 1})
	ok("-t", "2", "-srd")
	expect("-srd", torrent(2, "seedRatioMode"), map[string]any{"seedRatioMode": 0})
	ok("-gsr", "3")
	expect("-gsr 3", session(), map[string]any{"seedRatioLimit": 3, "seedRatioLimited": true})
	ok("-GSR")
	expect("-GSR", session(), map[string]any{"seedRatioLimited": false})
	ok("-t", "2", "-L", "tv,hd")
	expect("-L tv,hd", torrent(2, "labels"), map[string]any{"labels": []string{"tv", "hd"}})

	// Alternative speeds.
	ok("-asd", "100", "-asu", "50")
	ok("-as")
	expect("-asd 100 -asu 50 -as", session(), map[string]any{"alt-speed-down": 100, "alt-speed-up": 50, "alt-speed-enabled": true})
	ok("-AS")
	expect("-AS", session(), map[string]any{"alt-speed-enabled": false})

	// --move: the data goes, the torrent follows and stays complete.
	ok("-t", "2", "--move", moveTo)
	x := c.waitTorrent(t, p, 2, 20*time.Second, "moved and complete", func(x daemonTorrent) bool {
		return x.DownloadDir == moveTo && x.complete()
	})
	if _, err := os.Stat(filepath.Join(moveTo, second.Name, "one.bin")); err != nil {
		t.Errorf("--move: the data is not in %s: %v (%v)", moveTo, err, x)
	}
	if _, err := os.Stat(filepath.Join(out, second.Name)); !os.IsNotExist(err) {
		t.Errorf("--move: the data is still in %s (%v)", out, err)
	}
	// --find: point at a copy elsewhere; it is verified there.
	ok("-t", "1", "--find", findIn)
	c.waitTorrent(t, p, 1, 30*time.Second, "found complete in the new folder", func(x daemonTorrent) bool {
		return x.DownloadDir == findIn && x.complete()
	})

	// A global download limit holds a real download back: measured from
	// the first verified piece (the seeder unchokes at its own pace).
	ok("-d", "1500")
	expect("-d 1500", session(), map[string]any{"speed-limit-down": 1500, "speed-limit-down-enabled": true})
	ok("-a", d.main.magnet(d.lab))
	started := c.waitTorrent(t, p, 3, 60*time.Second, "some data", func(x daemonTorrent) bool { return x.HaveValid > 0 })
	t0 := time.Now()
	c.waitTorrent(t, p, 3, 90*time.Second, "downloaded under the limit", func(x daemonTorrent) bool { return x.complete() })
	rate := float64(d.main.Size-started.HaveValid) / time.Since(t0).Seconds()
	t.Logf("under -d 1500: %.0f kB/s from the first piece to the end", rate/1000)
	if rate > 1.3*1500*1024 {
		t.Errorf("%.0f kB/s under a 1500 kB/s limit: the limit did not hold", rate/1000)
	}
	ok("-D")
	expect("-D", session(), map[string]any{"speed-limit-down-enabled": false})

	// -r keeps the data; --remove-and-delete does not.
	ok("-t", "2", "-r")
	ok("-t", "1", "--remove-and-delete")
	if _, err := os.Stat(filepath.Join(moveTo, second.Name, "one.bin")); err != nil {
		t.Errorf("-r removed the data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(findIn, first.Name)); !os.IsNotExist(err) {
		t.Errorf("--remove-and-delete left the data (%v)", err)
	}
	if ts := c.torrents(t); len(ts) != 1 {
		t.Errorf("after removing two of three: %v", ts)
	}
	stopDaemon(t, p)
}
