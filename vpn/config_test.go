package vpn

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fake keys for inline configs.
const (
	ptPriv = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
	ptPub  = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
	ptPub2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
	ptPSK  = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE="
)

func ptPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func ptAddrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func ptKey(t *testing.T, s string) [32]byte {
	t.Helper()
	k, err := decodeKey(s)
	if err != nil {
		t.Fatalf("test key %q: %v", s, err)
	}
	return k
}

func ptPSKPtr(t *testing.T, s string) *PresharedKey {
	k := PresharedKey(ptKey(t, s))
	return &k
}

// ptFormat writes a config back in wg-quick form (for round trips).
func ptFormat(c *Config) string {
	var b strings.Builder
	in := c.Interface
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\n", in.PrivateKey.Base64())
	for _, a := range in.Addresses {
		fmt.Fprintf(&b, "Address = %s\n", a)
	}
	for _, d := range in.DNS {
		fmt.Fprintf(&b, "DNS = %s\n", d)
	}
	if len(in.DNSSearch) > 0 {
		fmt.Fprintf(&b, "DNS = %s\n", strings.Join(in.DNSSearch, ", "))
	}
	if in.MTU != 0 {
		fmt.Fprintf(&b, "MTU = %d\n", in.MTU)
	}
	if in.ListenPort != 0 {
		fmt.Fprintf(&b, "ListenPort = %d\n", in.ListenPort)
	}
	if in.FwMark != 0 {
		fmt.Fprintf(&b, "FwMark = %#x\n", in.FwMark)
	}
	if in.Table != "" {
		fmt.Fprintf(&b, "Table = %s\n", in.Table)
	}
	for _, p := range c.Peers {
		b.WriteString("\n[Peer]\n")
		fmt.Fprintf(&b, "PublicKey = %s\n", p.PublicKey)
		if p.PresharedKey != nil {
			fmt.Fprintf(&b, "PresharedKey = %s\n", p.PresharedKey.Base64())
		}
		if ep := p.Endpoint(); ep != "" {
			fmt.Fprintf(&b, "Endpoint = %s\n", ep)
		}
		var ips []string
		for _, a := range p.AllowedIPs {
			ips = append(ips, a.String())
		}
		if len(ips) > 0 {
			fmt.Fprintf(&b, "AllowedIPs = %s\n", strings.Join(ips, ","))
		}
		if p.PersistentKeepalive != 0 {
			fmt.Fprintf(&b, "PersistentKeepalive = %d\n", int(p.PersistentKeepalive/time.Second))
		}
	}
	return b.String()
}

// sansLines is cfg without the line numbers kept for messages: a config
// written back has the same meaning on other lines.
func sansLines(cfg *Config) *Config {
	c := *cfg
	c.Interface.TableLine = 0
	c.Peers = slices.Clone(cfg.Peers)
	for i := range c.Peers {
		c.Peers[i].Line, c.Peers[i].EndpointLine = 0, 0
	}
	return &c
}

func ptParse(t *testing.T, name, text string) (*Config, []string) {
	t.Helper()
	cfg, warnings, err := Parse(name, strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return cfg, warnings
}

func TestParseProviderFiles(t *testing.T) {
	// Keys are read from the files themselves: the point here is the shape.
	fileKey := func(t *testing.T, path, name string, nth int) [32]byte {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), name) {
				if nth == 0 {
					v, _, _ = strings.Cut(v, "#")
					return ptKey(t, strings.TrimSpace(v))
				}
				nth--
			}
		}
		t.Fatalf("%s: no %s", path, name)
		return [32]byte{}
	}
	tests := []struct {
		file     string
		want     func(t *testing.T, path string) *Config
		warnings []string
	}{
		{
			file: "mullvad-se-got-wg-001.conf",
			want: func(t *testing.T, path string) *Config {
				return &Config{
					Interface: Interface{
						PrivateKey: fileKey(t, path, "PrivateKey", 0),
						Addresses:  ptPrefixes(t, "10.64.1.2/32", "fc00:bbbb:bbbb:bb01::1:2/128"),
						DNS:        ptAddrs("10.64.0.1"),
					},
					Peers: []Peer{{
						PublicKey:    fileKey(t, path, "PublicKey", 0),
						EndpointHost: "185.213.154.68", EndpointPort: 51820,
						AllowedIPs: ptPrefixes(t, "0.0.0.0/0", "::/0"),
					}},
				}
			},
		},
		{
			file: "protonvpn-NL-123.conf",
			want: func(t *testing.T, path string) *Config {
				return &Config{
					Interface: Interface{
						PrivateKey: fileKey(t, path, "PrivateKey", 0),
						Addresses:  ptPrefixes(t, "10.2.0.2/32"),
						DNS:        ptAddrs("10.2.0.1"),
					},
					Peers: []Peer{{
						PublicKey:    fileKey(t, path, "PublicKey", 0),
						EndpointHost: "190.2.146.180", EndpointPort: 51820,
						AllowedIPs: ptPrefixes(t, "0.0.0.0/0"),
					}},
				}
			},
		},
		{
			file: "airvpn-europe3.conf",
			want: func(t *testing.T, path string) *Config {
				psk := PresharedKey(fileKey(t, path, "PresharedKey", 0))
				return &Config{
					Interface: Interface{
						PrivateKey: fileKey(t, path, "PrivateKey", 0),
						Addresses:  ptPrefixes(t, "10.167.88.99/32", "fd7d:76ee:e68f:a993:1cfa:4ea6:2b37:ebf6/128"),
						DNS:        ptAddrs("10.128.0.1", "fd7d:76ee:e68f:a993::1"),
						MTU:        1320,
					},
					Peers: []Peer{{
						PublicKey:           fileKey(t, path, "PublicKey", 0),
						PresharedKey:        &psk,
						EndpointHost:        "europe3.vpn.airdns.org",
						EndpointPort:        1637,
						AllowedIPs:          ptPrefixes(t, "0.0.0.0/0", "::/0"),
						PersistentKeepalive: 15 * time.Second,
					}},
				}
			},
		},
		{
			file: "ivpn-ch1.conf",
			want: func(t *testing.T, path string) *Config {
				return &Config{
					Interface: Interface{
						PrivateKey: fileKey(t, path, "PrivateKey", 0),
						Addresses:  ptPrefixes(t, "172.23.45.67/32"),
						DNS:        ptAddrs("172.16.0.1"),
					},
					Peers: []Peer{{
						PublicKey:    fileKey(t, path, "PublicKey", 0),
						EndpointHost: "185.212.170.141", EndpointPort: 2049,
						AllowedIPs: ptPrefixes(t, "0.0.0.0/0"),
					}},
				}
			},
		},
		{
			file: "wg-quick-full.conf",
			want: func(t *testing.T, path string) *Config {
				return &Config{
					Interface: Interface{
						PrivateKey: fileKey(t, path, "PrivateKey", 0),
						Addresses:  ptPrefixes(t, "10.9.0.2/24", "fd00:9::2/128"),
						DNS:        ptAddrs("10.9.0.1", "fd00:9::1"),
						DNSSearch:  []string{"corp.example", "example.org"},
						MTU:        1420,
						ListenPort: 51821,
						FwMark:     0xca6c,
						Table:      "off",
					},
					Peers: []Peer{{
						PublicKey:    fileKey(t, path, "PublicKey", 0),
						EndpointHost: "2001:db8::1", EndpointPort: 51820,
						AllowedIPs:          ptPrefixes(t, "10.9.0.0/24", "fd00:9::/64"),
						PersistentKeepalive: 25 * time.Second,
					}, {
						PublicKey:    fileKey(t, path, "PublicKey", 1),
						EndpointHost: "vpn2.example.net", EndpointPort: 443,
						AllowedIPs: ptPrefixes(t, "0.0.0.0/0", "::/0"),
					}},
				}
			},
			warnings: []string{
				"line 10: Table = off is ignored: wgtorrent always routes through the tunnel, in a routing table of its own, and never changes the system's tables",
				"line 11: PostUp is ignored: wgtorrent never runs commands from the config",
				"line 12: PreDown is ignored: wgtorrent never runs commands from the config",
				"line 13: SaveConfig is ignored: wgtorrent never writes to the config",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, warnings := ptParse(t, tt.file, string(data))
			want := tt.want(t, path)
			want.Name = tt.file
			if !reflect.DeepEqual(sansLines(cfg), want) {
				t.Errorf("config:\n got %s\nwant %s", ptDump(cfg), ptDump(want))
			}
			if !reflect.DeepEqual(warnings, tt.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", warnings, tt.warnings)
			}
		})
	}
}

// ptDump shows a config in full for failure messages (test keys only).
func ptDump(c *Config) string { return ptFormat(c) }

func TestParseShapes(t *testing.T) {
	t.Run("IPv6 endpoint", func(t *testing.T) {
		cfg, _ := ptParse(t, "v6.conf", "[Interface]\nPrivateKey="+ptPriv+"\nAddress=10.0.0.2/32\n[Peer]\nPublicKey="+ptPub+"\nEndpoint = [2001:db8::1]:51820\nAllowedIPs=::/0\n")
		p := cfg.Peers[0]
		if p.EndpointHost != "2001:db8::1" || p.EndpointPort != 51820 || p.Endpoint() != "[2001:db8::1]:51820" {
			t.Errorf("endpoint: host %q port %d Endpoint() %q", p.EndpointHost, p.EndpointPort, p.Endpoint())
		}
	})
	t.Run("lower-case keys and sections, CRLF, BOM, trailing comments", func(t *testing.T) {
		text := "\uFEFF[interface]\r\n" +
			"privatekey = " + ptPriv + " # mine\r\n" +
			"address = 10.64.1.2/32,fc00:bbbb:bbbb:bb01::1/128\r\n" +
			"dns = 10.64.0.1\r\n" +
			"\r\n" +
			"[PEER]\r\n" +
			"publickey=" + ptPub + "\r\n" +
			"presharedkey =" + ptPSK + "\r\n" +
			"allowedips = 0.0.0.0/0 , ::/0\r\n" +
			"endpoint = 1.2.3.4:51820   # Sweden\r\n" +
			"persistentkeepalive = 25\r\n"
		cfg, warnings := ptParse(t, "crlf.conf", text)
		want := &Config{
			Name: "crlf.conf",
			Interface: Interface{
				PrivateKey: ptKey(t, ptPriv),
				Addresses:  ptPrefixes(t, "10.64.1.2/32", "fc00:bbbb:bbbb:bb01::1/128"),
				DNS:        ptAddrs("10.64.0.1"),
			},
			Peers: []Peer{{
				PublicKey:           ptKey(t, ptPub),
				PresharedKey:        ptPSKPtr(t, ptPSK),
				EndpointHost:        "1.2.3.4",
				EndpointPort:        51820,
				AllowedIPs:          ptPrefixes(t, "0.0.0.0/0", "::/0"),
				PersistentKeepalive: 25 * time.Second,
			}},
		}
		if !reflect.DeepEqual(sansLines(cfg), want) {
			t.Errorf("config:\n got %s\nwant %s", ptDump(cfg), ptDump(want))
		}
		if len(warnings) != 0 {
			t.Errorf("warnings: %q", warnings)
		}
	})
	t.Run("repeated list keys accumulate, bare addresses, empty items", func(t *testing.T) {
		cfg, _ := ptParse(t, "lists.conf", "[Interface]\nPrivateKey="+ptPriv+
			"\nAddress = 10.0.0.2\nAddress = fd00::2, \nDNS = 1.1.1.1\nDNS = ,9.9.9.9 example.com\n"+
			"[Peer]\nPublicKey="+ptPub+"\nEndpoint=vpn.example.com:1\nAllowedIPs=10.0.0.0/8\nAllowedIPs=192.168.0.0/16\n")
		if got, want := cfg.Interface.Addresses, ptPrefixes(t, "10.0.0.2/32", "fd00::2/128"); !reflect.DeepEqual(got, want) {
			t.Errorf("Addresses %v, want %v", got, want)
		}
		if got, want := cfg.Interface.DNS, ptAddrs("1.1.1.1", "9.9.9.9"); !reflect.DeepEqual(got, want) {
			t.Errorf("DNS %v, want %v", got, want)
		}
		if got := cfg.Interface.DNSSearch; !reflect.DeepEqual(got, []string{"example.com"}) {
			t.Errorf("DNSSearch %q", got)
		}
		if got, want := cfg.Peers[0].AllowedIPs, ptPrefixes(t, "10.0.0.0/8", "192.168.0.0/16"); !reflect.DeepEqual(got, want) {
			t.Errorf("AllowedIPs %v, want %v", got, want)
		}
	})
	t.Run("FwMark, Table and keepalive forms", func(t *testing.T) {
		for _, tc := range []struct {
			fwmark, table, keepalive string
			wantMark                 uint32
			wantTable                string
			wantKeep                 time.Duration
		}{
			{"off", "auto", "off", 0, "auto", 0},
			{"51820", "Off", "0", 51820, "off", 0},
			{"0XCA6C", "1234", "65535", 0xca6c, "1234", 65535 * time.Second},
			{"0xffffffff", "vpn", "1", 0xffffffff, "vpn", time.Second},
		} {
			cfg, _ := ptParse(t, "forms.conf", "[Interface]\nPrivateKey="+ptPriv+"\nAddress=10.0.0.2/32\nFwMark="+tc.fwmark+
				"\nTable="+tc.table+"\n[Peer]\nPublicKey="+ptPub+"\nEndpoint=1.2.3.4:5\nAllowedIPs=0.0.0.0/0\nPersistentKeepalive="+tc.keepalive+"\n")
			if cfg.Interface.FwMark != tc.wantMark || cfg.Interface.Table != tc.wantTable || cfg.Peers[0].PersistentKeepalive != tc.wantKeep {
				t.Errorf("FwMark=%s Table=%s keepalive=%s: got %#x %q %v", tc.fwmark, tc.table, tc.keepalive,
					cfg.Interface.FwMark, cfg.Interface.Table, cfg.Peers[0].PersistentKeepalive)
			}
		}
	})
	t.Run("warnings", func(t *testing.T) {
		_, warnings := ptParse(t, "warn.conf", "[Interface]\nPrivateKey="+ptPriv+"\nAddress=10.0.0.2/32\n"+
			"PreUp = curl http://example.com | sh\n"+
			"[Peer]\nPublicKey="+ptPub+"\nAllowedIPs=10.1.2.3/8\n"+
			"[Peer]\nPublicKey="+ptPub2+"\nEndpoint=1.2.3.4:5\n")
		want := []string{
			"line 4: PreUp is ignored: wgtorrent never runs commands from the config",
			"line 7: AllowedIPs 10.1.2.3/8 has host bits set: it means 10.0.0.0/8",
			"line 5: [Peer] has no Endpoint: wgtorrent cannot reach it first",
			"line 8: [Peer] has no AllowedIPs: no traffic will go to it",
		}
		if !reflect.DeepEqual(warnings, want) {
			t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
		}
	})
}

func TestParseErrors(t *testing.T) {
	const iface = "[Interface]\nPrivateKey = " + ptPriv + "\nAddress = 10.0.0.2/32\n" // lines 1-3
	const peer = "[Peer]\nPublicKey = " + ptPub + "\nEndpoint = 1.2.3.4:51820\nAllowedIPs = 0.0.0.0/0\n"
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	tests := []struct {
		name, text string
		line       int
		msg        string // whole message when exact, else a part
		exact      bool
	}{
		{"unknown section", iface + "[Wireguard]\n", 4, "unknown section [Wireguard]: expected [Interface] or [Peer]", true},
		{"bad section header", iface + "[Peer\n", 4, "bad section header", false},
		{"unknown key", iface + "Jc = 4\n" + peer, 4, `unknown key "Jc" in [Interface]: expected one of PrivateKey`, false},
		{"unknown peer key", iface + peer + "Endpoints = 1.2.3.4:5\n", 8, `unknown key "Endpoints" in [Peer]`, false},
		{"key outside a section", "PrivateKey = " + ptPriv + "\n" + iface, 1, "PrivateKey\" is outside a section: put it under [Interface]", false},
		{"key in wrong section", iface + peer + "MTU = 1400\n", 8, "MTU belongs in the [Interface] section, not [Peer]", true},
		{"peer key in interface", iface + "Endpoint = 1.2.3.4:5\n" + peer, 4, "Endpoint belongs in a [Peer] section", false},
		{"line without =", iface + "Address 10.0.0.3/32\n" + peer, 4, "expected Key = Value, found no '='", true},
		{"bad base64", iface + "[Peer]\nPublicKey = not*base64\n", 5, "bad PublicKey: bad base64", true},
		{"short key", iface + "[Peer]\nPublicKey = " + short + "\n", 5, "bad PublicKey: key must be 32 bytes, got 31", true},
		{"zero key", iface + "[Peer]\nPublicKey = " + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n", 5, "bad PublicKey: all zeros", false},
		{"empty key", iface + "[Peer]\nPublicKey =\n", 5, "bad PublicKey: missing value", true},
		{"bad address", "[Interface]\nAddress = 10.0.0.300/32\n", 2, `bad Address "10.0.0.300/32": expected an address with a prefix length`, false},
		{"bad prefix length", "[Interface]\nAddress = 10.0.0.3/33\n", 2, `bad Address "10.0.0.3/33"`, false},
		{"address with zone", "[Interface]\nAddress = fe80::1%eth0\n", 2, "cannot have a %zone", false},
		{"bad allowed ip", iface + "[Peer]\nAllowedIPs = 0.0.0.0/0, ::/129\n", 5, `bad AllowedIPs "::/129"`, false},
		{"bad DNS", iface + "DNS = 10.64.0.1:53\n", 4, `bad DNS "10.64.0.1:53": expected an IP address or a search domain`, true},
		{"bad listen port", iface + "ListenPort = 65536\n", 4, `bad ListenPort "65536": must be a number from 0 to 65535`, true},
		{"bad MTU", iface + "MTU = 100\n", 4, `bad MTU "100": must be a number from 576 to 65535`, true},
		{"MTU not a number", iface + "MTU = auto\n", 4, `bad MTU "auto"`, false},
		{"bad FwMark", iface + "FwMark = 0x1ffffffff\n", 4, `bad FwMark "0x1ffffffff"`, false},
		{"bad Table", iface + "Table = main table\n", 4, `bad Table "main table"`, false},
		{"Table main by number", iface + "Table = 254\n" + peer, 4, "table 254 is the system's main table, which wgtorrent never writes to", false},
		{"Table local by number", iface + "Table = 255\n" + peer, 4, "system's local table", false},
		{"Table default by number", iface + "Table = 253\n" + peer, 4, "system's default table", false},
		{"Table main by name", iface + "Table = Main\n" + peer, 4, "table 254 is the system's main table", false},
		{"Table local by name", iface + "Table = local\n" + peer, 4, "system's local table", false},
		{"Table zero", iface + "Table = 0\n" + peer, 4, "table 0 is not a table", false},
		{"server without endpoint", iface + "[Peer]\nPublicKey = " + ptPub + "\nAllowedIPs = 0.0.0.0/0\n", 4, "[Peer] is the VPN server (it carries the default route) but has no Endpoint", false},
		{"bad keepalive", iface + peer + "PersistentKeepalive = 65536\n", 8, `bad PersistentKeepalive "65536": must be off or seconds from 0 to 65535`, true},
		{"negative keepalive", iface + peer + "PersistentKeepalive = -1\n", 8, `bad PersistentKeepalive "-1"`, false},
		{"duplicate interface", iface + peer + "[Interface]\n", 8, "second [Interface] section (first on line 1): a config has exactly one", true},
		{"duplicate key", iface + "PrivateKey = " + ptPriv + "\n", 4, "PrivateKey given twice in one section (first on line 2): keep one", true},
		{"missing private key", "# provider file\n[Interface]\nAddress = 10.0.0.2/32\n" + peer, 2, "[Interface] has no PrivateKey", false},
		{"no interface", peer, 0, "no [Interface] section", true},
		{"empty file", "", 0, "no [Interface] section", true},
		{"no peer", iface, 0, "no [Peer] section", false},
		{"no address", "[Interface]\nPrivateKey = " + ptPriv + "\n" + peer, 1, "[Interface] has no Address", false},
		{"peer without public key", iface + peer + "[Peer]\nEndpoint = 1.2.3.4:5\n", 8, "[Peer] has no PublicKey", true},
		{"duplicate peer", iface + peer + "[Peer]\nPublicKey = " + ptPub + "\n", 8, "same PublicKey as the peer on line 4", false},
		{"endpoint without port", iface + "[Peer]\nEndpoint = 1.2.3.4\n", 5, `bad Endpoint "1.2.3.4": missing port`, false},
		{"hostname without port", iface + "[Peer]\nEndpoint = vpn.example.com\n", 5, "missing port", false},
		{"IPv6 without port", iface + "[Peer]\nEndpoint = [2001:db8::1]\n", 5, "missing port", false},
		{"IPv6 without brackets", iface + "[Peer]\nEndpoint = 2001:db8::1:51820\n", 5, "an IPv6 endpoint must be in brackets, like [2001:db8::1]:51820", false},
		{"endpoint port 0", iface + "[Peer]\nEndpoint = 1.2.3.4:0\n", 5, "port must be a number from 1 to 65535", false},
		{"endpoint port too big", iface + "[Peer]\nEndpoint = 1.2.3.4:65536\n", 5, "port must be", false},
		{"endpoint bad host", iface + "[Peer]\nEndpoint = vpn example:5\n", 5, "neither an IP address nor a hostname", false},
		{"endpoint bad IPv4", iface + "[Peer]\nEndpoint = 10.0.0.256:5\n", 5, "neither an IP address nor a hostname", false},
		{"DNS bad IPv4", iface + "DNS = 10.64.0.300\n", 4, `bad DNS "10.64.0.300"`, false},
		{"endpoint IPv4 in brackets", iface + "[Peer]\nEndpoint = [1.2.3.4]:5\n", 5, "brackets hold an IPv6 address", false},
		{"line too long", iface + "# " + strings.Repeat("x", maxLine) + "\n", 4, "line longer than", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warnings, err := Parse("wg0.conf", strings.NewReader(tt.text))
			if err == nil {
				t.Fatalf("no error; config %s", ptDump(cfg))
			}
			if cfg != nil || warnings != nil {
				t.Errorf("config %v and warnings %q returned with an error", cfg, warnings)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if pe.File != "wg0.conf" || pe.Line != tt.line {
				t.Errorf("error %q: file %q line %d, want wg0.conf line %d", err, pe.File, pe.Line, tt.line)
			}
			if tt.exact && pe.Msg != tt.msg || !tt.exact && !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("message %q, want %s %q", pe.Msg, map[bool]string{true: "exactly", false: "containing"}[tt.exact], tt.msg)
			}
			wantPrefix := fmt.Sprintf("vpn: parse wg0.conf line %d: ", tt.line)
			if tt.line == 0 {
				wantPrefix = "vpn: parse wg0.conf: "
			}
			if !strings.HasPrefix(err.Error(), wantPrefix) {
				t.Errorf("Error() %q does not start with %q", err, wantPrefix)
			}
		})
	}
}

func TestParseErrorString(t *testing.T) {
	for _, tc := range []struct {
		e    ParseError
		want string
	}{
		{ParseError{"wg0.conf", 7, "bad PublicKey: key must be 32 bytes, got 31"}, "vpn: parse wg0.conf line 7: bad PublicKey: key must be 32 bytes, got 31"},
		{ParseError{"wg0.conf", 0, "no [Peer] section"}, "vpn: parse wg0.conf: no [Peer] section"},
		{ParseError{"", 3, "x"}, "vpn: parse config line 3: x"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// TestParseNeverShowsSecrets feeds private and preshared keys, valid and
// broken, in every place a message could pick them up.
func TestParseNeverShowsSecrets(t *testing.T) {
	secret := "SECRETsecretSECRETsecretSECRETsecretSECRETs="
	if _, err := decodeKey(secret); err != nil {
		t.Fatalf("test secret must be a valid key: %v", err)
	}
	short := "SECRETsecretSECRETsecretSECRETsecretSECRE=" // 31 bytes
	iface := func(priv string) string { return "[Interface]\nPrivateKey = " + priv + "\nAddress = 10.0.0.2/32\n" }
	const peer = "[Peer]\nPublicKey = " + ptPub + "\nEndpoint = 1.2.3.4:51820\nAllowedIPs = 0.0.0.0/0\n"
	peerPSK := func(psk string) string { return peer + "PresharedKey = " + psk + "\n" }
	cases := []struct {
		name, text string
		secrets    []string // strings that must not be shown
		wantErr    bool
	}{
		{"valid private key", iface(secret) + "PostUp = echo hi\n" + peer, []string{secret}, false},
		{"valid preshared key", iface(ptPriv) + peerPSK(secret), []string{secret, ptPriv}, false},
		{"private key too short", iface(short) + peer, []string{short}, true},
		{"private key bad base64", iface("SECRET*secret") + peer, []string{"SECRET*secret"}, true},
		{"private key with junk", iface(secret+" extra") + peer, []string{secret}, true},
		{"preshared key too short", iface(ptPriv) + peerPSK(short), []string{short, ptPriv}, true},
		{"colon instead of =", "[Interface]\nPrivateKey: " + secret + "\n", []string{secret, strings.TrimSuffix(secret, "=")}, true},
		{"space instead of =", "[Interface]\nPrivateKey " + secret + "\n", []string{secret, strings.TrimSuffix(secret, "=")}, true},
		{"bare key line", "[Interface]\n" + strings.TrimSuffix(secret, "=") + "\n", []string{strings.TrimSuffix(secret, "=")}, true},
		{"key as section", "[" + secret + "]\n", []string{strings.TrimSuffix(secret, "=")}, true},
		{"private key twice", iface(secret) + "PrivateKey = " + secret + "\n" + peer, []string{secret}, true},
		{"private key in peer", iface(ptPriv) + peer + "PrivateKey = " + secret + "\n", []string{secret, ptPriv}, true},
		{"private key outside section", "PrivateKey = " + secret + "\n", []string{secret}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := Parse("wg0.conf", strings.NewReader(tc.text))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			var shown []string
			if err != nil {
				shown = append(shown, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			}
			shown = append(shown, warnings...)
			if cfg != nil {
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
					shown = append(shown, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, *cfg), fmt.Sprintf(verb, cfg.Interface.PrivateKey))
					if psk := cfg.Peers[0].PresharedKey; psk != nil {
						shown = append(shown, fmt.Sprintf(verb, psk), fmt.Sprintf(verb, *psk), fmt.Sprintf(verb, cfg.Peers))
					}
				}
				shown = append(shown, cfg.Interface.PrivateKey.String(), cfg.Interface.PrivateKey.GoString())
				j, jerr := json.Marshal(cfg)
				if jerr != nil {
					t.Fatalf("json: %v", jerr)
				}
				shown = append(shown, string(j))
				var buf bytes.Buffer
				slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "key", cfg.Interface.PrivateKey, "cfg", cfg, "peer", cfg.Peers[0])
				slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "key", cfg.Interface.PrivateKey, "cfg", cfg)
				shown = append(shown, buf.String())
			}
			all := strings.Join(shown, "\n")
			for _, s := range tc.secrets {
				for _, form := range []string{s, ptHexOf(s)} {
					if form != "" && strings.Contains(all, form) {
						t.Errorf("secret %q shown in:\n%s", form, all)
					}
				}
			}
			if cfg != nil && !strings.Contains(fmt.Sprintf("%+v", cfg), "(hidden)") {
				t.Errorf("%%+v of the config does not say (hidden): %+v", cfg)
			}
		})
	}
}

// ptHexOf gives the hex form of a base64 key, or "" when it does not decode.
func ptHexOf(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

func TestParseDeterministicRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			a, wa := ptParse(t, f, string(data))
			b, wb := ptParse(t, f, string(data))
			if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(wa, wb) {
				t.Fatalf("two parses differ:\n%s\n%s", ptDump(a), ptDump(b))
			}
			again, _ := ptParse(t, f, ptFormat(a))
			if !reflect.DeepEqual(sansLines(a), sansLines(again)) {
				t.Errorf("round trip differs:\n got %s\nwant %s", ptDump(again), ptDump(a))
			}
		})
	}
}

func TestLoad(t *testing.T) {
	data, err := os.ReadFile("testdata/mullvad-se-got-wg-001.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		mode     os.FileMode
		wantWarn bool
	}{{0o600, false}, {0o400, false}, {0o644, true}, {0o620, true}, {0o604, true}} {
		path := filepath.Join(dir, fmt.Sprintf("wg-%o.conf", tc.mode))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		cfg, warnings, err := Load(path)
		if err != nil {
			t.Fatalf("Load %o: %v", tc.mode, err)
		}
		if cfg.Name != path || len(cfg.Peers) != 1 {
			t.Errorf("Load %o: name %q, %d peers", tc.mode, cfg.Name, len(cfg.Peers))
		}
		warned := len(warnings) == 1 && strings.Contains(warnings[0], "chmod 600 "+path)
		if warned != tc.wantWarn || len(warnings) > 1 {
			t.Errorf("mode %o: warnings %q, want a chmod warning: %v", tc.mode, warnings, tc.wantWarn)
		}
	}

	if _, _, err := Load(filepath.Join(dir, "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("[Interface]\nMTU = 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var pe *ParseError
	if _, _, err := Load(bad); !errors.As(err, &pe) || pe.File != bad || pe.Line != 2 {
		t.Errorf("bad file: %v", err)
	}
}

func TestKeys(t *testing.T) {
	// RFC 7748 section 6.1 (Alice).
	priv := PrivateKey(ptMustHex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	wantPub := "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
	if got := priv.Public().Hex(); got != wantPub {
		t.Errorf("Public().Hex() = %s, want %s", got, wantPub)
	}
	if got := priv.Hex(); got != "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a" {
		t.Errorf("Hex() = %s", got)
	}
	pub := priv.Public()
	if got, want := pub.String(), base64.StdEncoding.EncodeToString(ptMustHex(t, wantPub)); got != want || fmt.Sprint(pub) != want {
		t.Errorf("PublicKey prints %q / %q, want %q", got, fmt.Sprint(pub), want)
	}
	back, err := ParsePublicKey(pub.String())
	if err != nil || back != pub {
		t.Errorf("ParsePublicKey(String()) = %v, %v", back, err)
	}
	if got := priv.Base64(); got != base64.StdEncoding.EncodeToString(priv[:]) {
		t.Errorf("Base64() = %q", got)
	}

	for _, tc := range []struct{ in, want string }{
		{"", "missing value"},
		{"abc", "bad base64"},
		{"not base64 at all!!", "bad base64"},
		{base64.StdEncoding.EncodeToString(make([]byte, 31)), "key must be 32 bytes, got 31"},
		{base64.StdEncoding.EncodeToString(make([]byte, 33)), "key must be 32 bytes, got 33"},
	} {
		if _, err := ParsePublicKey(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("ParsePublicKey(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}

	a, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a == (PrivateKey{}) {
		t.Errorf("two generated keys are equal or zero")
	}
	if a[0]&7 != 0 || a[31]&128 != 0 || a[31]&64 == 0 {
		t.Errorf("generated key is not clamped: first byte %#x last byte %#x", a[0], a[31])
	}
	if a.Public() == b.Public() {
		t.Errorf("two keys share a public key")
	}

	psk := PresharedKey(ptMustHex(t, wantPub))
	if psk.Hex() != wantPub || psk.String() != "(hidden)" || fmt.Sprintf("%#v", psk) != "(hidden)" {
		t.Errorf("PresharedKey: Hex %s String %s GoString %s", psk.Hex(), psk, fmt.Sprintf("%#v", psk))
	}
}

func ptMustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckSwitchable: files of one account for two servers (other key,
// endpoint, address, host bits and order of lists) may replace each other
// in place; another IP version, DNS server or route set may not, and the
// message names it.
func TestCheckSwitchable(t *testing.T) {
	file := func(name, iface, peer string) *Config {
		cfg, _ := ptParse(t, name, "[Interface]\nPrivateKey="+ptPriv+"\n"+iface+"[Peer]\nPublicKey="+ptPub+"\n"+peer)
		return cfg
	}
	a := file("a.conf", "Address=10.2.0.2/32, fd00::2/128\nDNS=10.2.0.1\n", "Endpoint=192.0.2.1:51820\nAllowedIPs=0.0.0.0/0, ::/0\n")
	cases := []struct {
		name, iface, peer, want string
	}{
		{"same account, another server", "Address=fd00::2/128, 10.2.0.2\nDNS=10.2.0.1\n", "Endpoint=198.51.100.2:1194\nAllowedIPs=::/0,0.0.0.0/0\n", ""},
		{"another address", "Address=10.2.0.3/32, fd00::2/128\nDNS=10.2.0.1\n", "Endpoint=198.51.100.2:1194\nAllowedIPs=0.0.0.0/0, ::/0\n", ""},
		{"no IPv6 address", "Address=10.2.0.2/32\nDNS=10.2.0.1\n", "Endpoint=198.51.100.2:1194\nAllowedIPs=0.0.0.0/0, ::/0\n", "Address"},
		{"another DNS", "Address=10.2.0.2/32, fd00::2/128\nDNS=10.2.0.2\n", "Endpoint=198.51.100.2:1194\nAllowedIPs=0.0.0.0/0, ::/0\n", "DNS"},
		{"IPv4 only", "Address=10.2.0.2/32, fd00::2/128\nDNS=10.2.0.1\n", "Endpoint=198.51.100.2:1194\nAllowedIPs=0.0.0.0/0\n", "AllowedIPs"},
		{"another MTU", "Address=10.2.0.2/32, fd00::2/128\nDNS=10.2.0.1\nMTU=1280\n", "Endpoint=198.51.100.2:1194\nAllowedIPs=0.0.0.0/0, ::/0\n", "MTU"},
	}
	for _, c := range cases {
		err := CheckSwitchable(a, file("b.conf", c.iface, c.peer))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "b.conf")):
			t.Errorf("%s: %v, want an error naming b.conf and %s", c.name, err, c.want)
		}
	}
}

// TestConfigFiles: files stay in the order given; a directory gives its
// .conf files in name order; an empty directory or a missing path is an
// error.
func TestConfigFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"se-2.conf", "ch-1.conf", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	single := filepath.Join(t.TempDir(), "nl.conf")
	os.WriteFile(single, nil, 0o600)
	got, err := ConfigFiles([]string{single, dir})
	want := []string{single, filepath.Join(dir, "ch-1.conf"), filepath.Join(dir, "se-2.conf")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ConfigFiles = %q, %v; want %q", got, err, want)
	}
	if _, err := ConfigFiles([]string{t.TempDir()}); err == nil {
		t.Error("an empty directory was accepted")
	}
	if _, err := ConfigFiles([]string{filepath.Join(dir, "gone.conf")}); err == nil {
		t.Error("a missing file was accepted")
	}
}
