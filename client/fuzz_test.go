package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/wgtorrent/wgtorrent/internal/lab/scriptedpeer"
)

// FuzzAddInfo drives the whole add path with a real engine on loopback and
// a scripted peer (handshake, ut_metadata, bitfield, unchoke, a block for
// every request) from a fuzzed info dictionary, by .torrent and by magnet.
// Whatever the dictionary, the process must not go down: it is refused,
// or downloaded from the peer. Seeded with issue 18's 2^40 piece length.
// `make check` runs it briefly, `make fuzz` longer.
func FuzzAddInfo(f *testing.F) {
	f.Add(scriptedpeer.HugePieceLength())
	for _, info := range []map[string]any{
		{"name": "ok", "length": 5000, "piece length": 16 << 10, "pieces": string(make([]byte, 20))},
		{"name": "zero", "length": 5000, "piece length": 0, "pieces": string(make([]byte, 20))},
		{"name": "odd", "length": 5000, "piece length": 16<<10 + 1, "pieces": string(make([]byte, 20))},
		{"name": "short", "length": 1 << 20, "piece length": 16 << 10, "pieces": string(make([]byte, 20))},
		{"name": "d", "piece length": 32 << 10, "pieces": string(make([]byte, 40)), "files": []any{
			map[string]any{"length": 40000, "path": []any{"a"}},
			map[string]any{"length": 20000, "path": []any{"..", "b"}},
		}},
		{"name": "neg", "piece length": 16 << 10, "pieces": string(make([]byte, 20)), "files": []any{
			map[string]any{"length": -1, "path": []any{"a"}},
		}},
	} {
		b, err := bencode.Marshal(info)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))
	e, err := New(context.Background(), Options{Binding: loopback, DataDir: f.TempDir(), DownloadDir: f.TempDir(), Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })

	f.Fuzz(func(t *testing.T, info []byte) {
		// A hang is a failure too: dump every goroutine and stop.
		watchdog := time.AfterFunc(30*time.Second, func() {
			buf := make([]byte, 8<<20)
			os.Stderr.Write(buf[:runtime.Stack(buf, true)])
			panic(fmt.Sprintf("FuzzAddInfo: one round took over 30 s (info %q)", info))
		})
		defer watchdog.Stop()
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peer := scriptedpeer.Start(ln, info)
		defer peer.Close()
		peers := []netip.AddrPort{ln.Addr().(*net.TCPAddr).AddrPort()}

		try := func(add func() (TorrentID, error)) {
			id, err := add()
			if err != nil {
				if errors.Is(err, ErrDuplicate) {
					t.Fatalf("duplicate: the previous round was not removed: %v", err)
				}
				return // refused, as it may be
			}
			// Give the peer time to hand over metadata, bitfield and unchoke,
			// and the engine time to request.
			deadline := time.Now().Add(300 * time.Millisecond)
			for time.Now().Before(deadline) && peer.Requests.Load() == 0 {
				if st, err := e.Get(id); err == nil && st.State == StateError {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := e.Remove(id, true); err != nil && !errors.Is(err, ErrNotFound) {
				t.Logf("remove %s: %v", id, err)
			}
		}
		try(func() (TorrentID, error) {
			return addMetainfo(e, scriptedpeer.TorrentFile(info), AddOptions{Peers: peers})
		})
		try(func() (TorrentID, error) {
			return addSource(e, scriptedpeer.Magnet(info), AddOptions{Peers: peers})
		})
	})
}
