//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
)

// debianWebUI is the Transmission web client of Debian's
// transmission-common (a dependency of transmission-daemon).
const debianWebUI = "/usr/share/transmission/web"

// TestDaemonWebUI: the daemon serves Debian's Transmission web client
// (--web-ui); headless Chromium, in the client's namespace, loads it, finds
// the torrent the daemon has, adds a magnet through the page's dialog and
// pauses it with the toolbar. Each step is checked in the engine over RPC,
// not on the page alone; a screenshot goes to the artefacts.
func TestDaemonWebUI(t *testing.T) {
	needPrograms(t, "chromium-headless-shell")
	if _, err := os.Stat(filepath.Join(debianWebUI, "index.html")); err != nil {
		needPrograms(t, "transmission-daemon") // names the package that brings it
		t.Fatalf("Transmission's web client is missing: %v", err)
	}
	lab, _, conf := newLab(t, netlab.Options{})
	cl := lab.Client
	data, out := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, cl, daemonArgs(conf, data, out, "--web-ui", debianWebUI)...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, 200, 20*time.Second)
	listed := "web-ui-listed"
	c.call(t, "torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + randomHash(t) + "&dn=" + listed, "paused": true}, nil)

	ctx := startChromium(t, cl)
	page := "http://" + daemonRPCAddr + "/transmission/web/"
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`#torrent_list li.torrent`)),
	))
	names, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#torrent_list`)))
	must(t, err)
	if !strings.Contains(names, listed) {
		t.Errorf("the web client's list %q lacks the daemon's torrent %s", names, listed)
	}

	// Add a magnet the way a user does: the toolbar's open button, the
	// URL field, Upload.
	added := randomHash(t)
	before := len(c.torrents(t))
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("toolbar-open")),
		chromedp.WaitVisible(chromedp.ID("torrent_upload_url")),
		chromedp.SendKeys(chromedp.ID("torrent_upload_url"), "magnet:?xt=urn:btih:"+added+"&dn=web-ui-added"),
		chromedp.Click(chromedp.ID("upload_confirm_button")),
	))
	var id int
	pollDaemon(t, p, 20*time.Second, "the magnet added through the web client in the engine", func() (bool, string) {
		ts := c.torrents(t)
		for _, x := range ts {
			if x.HashString == added {
				id = x.ID
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d torrents, %d before", len(ts), before)
	})

	// Select its row and pause it with the toolbar.
	row := chromedp.CSS(fmt.Sprintf(`#torrent_list li.torrent:nth-child(%d)`, rowIndex(t, ctx, "web-ui-added")))
	must(t, chromedp.Do(ctx,
		chromedp.Click(row),
		chromedp.Click(chromedp.ID("toolbar-pause")),
	))
	x := c.waitTorrent(t, p, id, 20*time.Second, "stopped by the web client's pause", func(x daemonTorrent) bool { return x.Status == 0 })
	t.Logf("paused through the web client: %v", x)

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	shot := artefact(t, "webui.png")
	must(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot: %s", shot)
	stopDaemon(t, p)
}

// rowIndex is the 1-based position of the torrent row showing name,
// waiting for the list to show it.
func rowIndex(t *testing.T, ctx context.Context, name string) int {
	t.Helper()
	js := fmt.Sprintf(`[...document.querySelectorAll('#torrent_list li.torrent')].findIndex(li => li.textContent.includes(%q)) + 1`, name)
	n, err := chromedp.Run(ctx, chromedp.Poll[int](js, chromedp.WithPollingTimeout(20*time.Second)))
	must(t, err)
	return n
}

// startChromium returns a chromedp context driving headless Chromium in
// h's namespace, so that nothing it sends can reach beyond the lab.
func startChromium(t *testing.T, h *netlab.Host) context.Context {
	t.Helper()
	needPrograms(t, "ip")
	var log netlab.SyncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium-headless-shell"),
		chromedp.NoSandbox, // as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(&log),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// ip netns exec execs the browser: same process, same pipes.
			cmd.Args = append([]string{"ip", "netns", "exec", h.NetNS, cmd.Path}, cmd.Args[1:]...)
			cmd.Path, _ = exec.LookPath("ip")
		}),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", netlab.Tail(log.String(), 3000))
		}
	})
	return ctx
}

// artefact is where a test keeps a file for people to look at after the
// run: $WGTORRENT_ARTIFACTS, else wgtorrent-artifacts in the temp folder.
func artefact(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("WGTORRENT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "wgtorrent-artifacts")
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	must(t, os.MkdirAll(dir, 0o755))
	return filepath.Join(dir, name)
}

// TestDaemonCtrlTransmission: @ctrl/transmission (npm), the RPC library of
// several web front ends, lists, adds a magnet, reads every field it knows,
// sets limits and labels, renames a file, pauses and removes, against the
// daemon (testdata/ctrl-transmission/drive.mjs); each effect is checked in
// the engine or on disk.
func TestDaemonCtrlTransmission(t *testing.T) {
	needPrograms(t, "node")
	dir, err := filepath.Abs("testdata/ctrl-transmission")
	must(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@ctrl", "transmission")); err != nil {
		testenv.Unavailable(t, "@ctrl/transmission is not installed in %s (make deps runs npm ci there): %v", dir, err)
	}
	d := newDaemonLab(t, 1)
	cl, local := d.lab.Client, d.locals[0]
	p, c, out := seedingDaemon(t, d)

	magnetHash := randomHash(t)
	cfg, err := json.Marshal(map[string]string{
		"url":         "http://" + daemonRPCAddr + "/",
		"downloadDir": out,
		"magnet":      "magnet:?xt=urn:btih:" + magnetHash + "&dn=ctrl-added",
		"localHash":   local.InfoHash,
		"renamePath":  local.Name + "/one.bin",
		"renameName":  "uno.bin",
	})
	must(t, err)
	cmd := cl.Command(context.Background(), "node", filepath.Join(dir, "drive.mjs"), string(cfg))
	cmd.Dir = dir
	b, err := cmd.Output()
	t.Logf("drive.mjs: %s", b)
	if err != nil {
		t.Fatalf("drive.mjs: %v", err)
	}
	var res struct {
		RPCVersion int `json:"rpcVersion"`
		Listed     []struct {
			ID, Name, State string
		} `json:"listed"`
		AddedHash  string `json:"addedHash"`
		FullCount  int    `json:"fullCount"`
		FieldCount int    `json:"fieldCount"`
		Set        struct {
			UploadLimit   int      `json:"uploadLimit"`
			UploadLimited bool     `json:"uploadLimited"`
			Labels        []string `json:"labels"`
		} `json:"set"`
		Renamed map[string]any `json:"renamed"`
	}
	must(t, json.Unmarshal(b, &res))
	if len(res.Listed) != 1 || res.Listed[0].Name != local.Name || res.Listed[0].State != "seeding" {
		t.Errorf("getAllData listed %+v, want %s seeding", res.Listed, local.Name)
	}
	if res.AddedHash != magnetHash || res.FullCount != 2 || res.FieldCount < 30 {
		t.Errorf("added %s (want %s); listTorrents: %d torrents, %d fields", res.AddedHash, magnetHash, res.FullCount, res.FieldCount)
	}
	if res.Set.UploadLimit != 100 || !res.Set.UploadLimited || len(res.Set.Labels) != 1 || res.Set.Labels[0] != "tv" {
		t.Errorf("after setTorrent: %+v, want upload limit 100 KB/s on and the label tv", res.Set)
	}
	if res.Renamed["name"] != "uno.bin" {
		t.Errorf("renamePath answered %v", res.Renamed)
	}
	if _, err := os.Stat(filepath.Join(out, local.Name, "uno.bin")); err != nil {
		t.Errorf("the renamed file is not on disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, local.Name, "one.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old name is still on disk (%v)", err)
	}
	ts := c.torrents(t)
	if len(ts) != 1 || ts[1].Status != 0 || !ts[1].complete() {
		t.Errorf("after rename, pause and remove the engine has %v, want only torrent 1, stopped, its data all there", ts)
	}
	stopDaemon(t, p)
}

// seedingDaemon starts a daemon (no password) whose download folder holds
// the data of d's first local torrent, adds that torrent as its metainfo,
// as a client uploading a .torrent does, and waits until it seeds (id 1).
func seedingDaemon(t *testing.T, d *daemonLab) (p *proc, c *rpcClient, out string) {
	t.Helper()
	local := d.locals[0]
	data, out := t.TempDir(), t.TempDir()
	local.copyTo(t, out)
	p = startWgtorrent(t, d.lab.Client, daemonArgs(d.conf, data, out)...)
	c = newRPCClient(d.lab.Client, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)
	mi, err := os.ReadFile(local.File)
	must(t, err)
	c.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(mi)}, nil)
	c.waitTorrent(t, p, 1, 20*time.Second, "seeding its data", func(x daemonTorrent) bool { return x.Status == 6 })
	return p, c, out
}
