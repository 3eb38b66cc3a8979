package rpc

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
)

// TestTransmissionRemote drives the harness with Debian's
// transmission-remote (3.00), the strictest legacy client, over loopback.
func TestTransmissionRemote(t *testing.T) {
	testenv.NeedPrograms(t, "transmission-remote") // Debian package transmission-cli
	bin, err := exec.LookPath("transmission-remote")
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []bool{false, true} {
		name := "noauth"
		if auth {
			name = "auth"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) {
				if auth {
					o.Username, o.Password = "sonarr", "pa:ss word"
				}
			})
			addr := strings.TrimPrefix(h.http.URL, "http://")
			run := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				full := []string{addr}
				if auth {
					full = append(full, "-n", "sonarr:pa:ss word")
				}
				cmd := exec.CommandContext(ctx, bin, append(full, args...)...)
				cmd.Env = []string{"HOME=" + t.TempDir(), "LANG=C"}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("transmission-remote %v: %v\n%s", args, err, out)
				}
				return string(out)
			}
			expect := func(out string, wants ...string) {
				t.Helper()
				for _, w := range wants {
					if !strings.Contains(out, w) {
						t.Errorf("output lacks %q:\n%s", w, out)
					}
				}
			}
			calls := func(want ...string) {
				t.Helper()
				if c := h.fake.Calls(); !slices.Equal(c, want) {
					t.Errorf("engine calls %q, want %q", c, want)
				}
			}

			expect(run("-l"), "Show.S01E01", "Movie.2024", "Up & Down", "Idle", "Done", "Sum:", "   1 ", "   2 ")
			expect(run("-t", "1", "-i"), "Name: Show.S01E01", "Hash: "+hashA, "State: Up & Down",
				"Location: /dl/tv", "Percent Done: 50.0%", "Total size: 3.15 MB (2.10 MB wanted)",
				"Peers: connected to 2, uploading to 1, downloading from 1", "Piece Size: 256.0 KiB", "Magnet: magnet:?xt=urn:btih:"+hashA)
			expect(run("-t", "1", "-f"), "Show.S01E01/ep.mkv", "Show.S01E01/sample.mkv")
			expect(run("-t", "1", "-pi"), "10.64.0.5", "Transmission 4.0.5")
			expect(run("-t", "1", "-it"), "Tracker 0: http://tracker.test:6969")
			expect(run("-si"), "RPC version: 16", "3.00 (wgtorrent 0.1)", "/dl")
			expect(run("-st"), "CURRENT SESSION", "TOTAL")
			calls()

			magnet := "magnet:?xt=urn:btih:" + strings.Repeat("c", 40) + "&dn=Added"
			expect(run("-a", magnet), "success")
			calls("add " + magnet + " dir=/dl paused=false")
			expect(run("-l"), "Added")

			h.fake.ResetCalls()
			run("-t", "1", "-S")
			run("-t", "1", "-s")
			run("-t", "2", "-v")
			run("-t", hashB, "--reannounce")
			run("-t", "1", "-r")
			calls("pause "+hashA, "resume "+hashA, "verify "+hashB, "reannounce "+hashB, "remove "+hashA+" delete=false")
			if out := run("-l"); strings.Contains(out, "Show.S01E01") {
				t.Errorf("removed torrent still listed:\n%s", out)
			}

			h.fake.ResetCalls()
			run("-d", "250", "-u", "40")
			calls("limits 250000 40000")
			expect(run("-si"), "Download speed limit: 250 kB/s", "Upload speed limit: 40 kB/s")
		})
	}
}
