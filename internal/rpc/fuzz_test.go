package rpc

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/wgtorrent/wgtorrent/client/clienttest"
)

// FuzzRPC feeds arbitrary bodies to the decoder and dispatcher: it must
// never panic, and every answer must be JSON with a non-empty result.
func FuzzRPC(f *testing.F) {
	for _, s := range []string{
		sonarrGet,
		`{"method":"session-get","arguments":{"fields":["version"]},"tag":1}`,
		`{"method":"session-set","arguments":{"speed-limit-down":10,"speed-limit-down-enabled":true,"download-dir":"/x"}}`,
		`{"method":"session-stats"}`,
		`{"method":"torrent-get","arguments":{"ids":"recently-active","fields":["id","files","peers","trackerStats","pieceSize","magnetLink"],"format":"table"}}`,
		`{"method":"torrent-get","arguments":{"ids":[1,"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],"fields":["id","wanted"]}}`,
		`{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:cccccccccccccccccccccccccccccccccccccccc","paused":true,"labels":["x"]}}`,
		`{"method":"torrent-add","arguments":{"metainfo":"ZDQ6aW5mb2Q0Om5hbWUzOmZvb2Vl","download-dir":"/dl","files-unwanted":[0]}}`,
		`{"method":"torrent-set","arguments":{"ids":[1],"files-wanted":[],"priority-high":[0],"seedRatioMode":1,"labels":["a"]}}`,
		`{"method":"torrent-remove","arguments":{"ids":2,"delete-local-data":true}}`,
		`{"method":"torrent-start","arguments":{"ids":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}`,
		`{"method":"torrent-stop"}`, `{"method":"torrent-verify","arguments":{"ids":[1,2]}}`,
		`{"method":"queue-move-top","arguments":{"ids":[1]}}`, `{"method":"free-space","arguments":{"path":"/"}}`,
		`{"method":"port-test"}`, `{"method":"blocklist-update"}`, `{"method":"x"}`, `[]`, `{`, `null`, `{"arguments":null}`,
		`{"method":"torrent-get","arguments":{"fields":["id"],"ids":[1e300,-1,0.5]}}`,
	} {
		f.Add([]byte(s))
	}
	fake := clienttest.New()
	seed(fake)
	srv, err := NewServer(fake, &fakeHealth{ok: true}, Options{DownloadDir: "/dl", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := srv.exec(context.Background(), body)
		if resp.Result == "" {
			t.Fatalf("empty result for %q", body)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("answer to %q cannot be encoded: %v", body, err)
		}
	})
}
