package vpn

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, fails only with a *ParseError, and what it
// accepts survives being written back and parsed again.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"\uFEFF[interface]\r\nprivatekey=" + ptPriv + "\r\naddress=10.0.0.2\r\n[peer]\r\npublickey=" + ptPub + "\r\nendpoint=[fe80::1%eth0]:1\r\n",
		"[Interface]\nPrivateKey = " + ptPriv + "\nAddress = ::ffff:1.2.3.4/128\n[Peer]\nPublicKey = " + ptPub + "\nPresharedKey=" + ptPSK + "\nEndpoint = 2001:db8::1:51820\n",
		"[Peer\n[]\n[ peer ]\n=\n==\nPublicKey==\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, warnings, err := Parse("fuzz.conf", strings.NewReader(string(data)))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if cfg != nil || warnings != nil {
				t.Fatalf("config or warnings returned with error %v", err)
			}
			return
		}
		if cfg.Name != "fuzz.conf" || len(cfg.Peers) == 0 || len(cfg.Interface.Addresses) == 0 {
			t.Fatalf("accepted an incomplete config: %s", ptFormat(cfg))
		}
		priv := cfg.Interface.PrivateKey.Base64()
		for _, w := range warnings {
			if strings.Contains(w, priv) {
				t.Fatalf("warning shows the private key: %q", w)
			}
		}
		text := ptFormat(cfg)
		again, _, err := Parse("fuzz.conf", strings.NewReader(text))
		if err != nil {
			t.Fatalf("written-back config does not parse: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(sansLines(cfg), sansLines(again)) {
			t.Fatalf("round trip differs:\n got %s\nwant %s", ptFormat(again), text)
		}
	})
}
