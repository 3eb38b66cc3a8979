package client_test

import (
	"net/netip"
	"testing"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/client/clienttest"
)

// TestEngineContract runs on the real engine the suite the fake passes.
func TestEngineContract(t *testing.T) {
	clienttest.Contract(t, func(t *testing.T) client.Controller {
		e, err := client.New(t.Context(), client.Options{
			Binding: client.Binding{IPv4: netip.MustParseAddr("127.0.0.1")},
			DataDir: t.TempDir(), DownloadDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	})
}
