package vpn

import (
	"fmt"
	"net/netip"
	"strings"
)

// uapiConfig renders the wireguard-go configuration ("set" operation).
// fwmark comes first: the device must mark its socket before it knows a
// peer, or the first handshake leaves unmarked and the kill switch drops it.
// The result holds the private key: it goes to the device and nowhere else.
func uapiConfig(cfg *Config, fwmark uint32, endpoints []netip.AddrPort) (string, error) {
	if len(endpoints) != len(cfg.Peers) {
		return "", fmt.Errorf("vpn: %d endpoints for %d peers", len(endpoints), len(cfg.Peers))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fwmark=%d\n", fwmark)
	fmt.Fprintf(&b, "private_key=%s\n", cfg.Interface.PrivateKey.Hex())
	fmt.Fprintf(&b, "listen_port=%d\n", cfg.Interface.ListenPort)
	b.WriteString("replace_peers=true\n")
	for i, p := range cfg.Peers {
		fmt.Fprintf(&b, "public_key=%s\n", p.PublicKey.Hex())
		if p.PresharedKey != nil {
			fmt.Fprintf(&b, "preshared_key=%s\n", p.PresharedKey.Hex())
		}
		if endpoints[i].IsValid() {
			fmt.Fprintf(&b, "endpoint=%s\n", endpoints[i])
		}
		fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", int(p.PersistentKeepalive.Seconds()))
		b.WriteString("replace_allowed_ips=true\n")
		for _, ip := range p.AllowedIPs {
			fmt.Fprintf(&b, "allowed_ip=%s\n", ip.Masked())
		}
	}
	return b.String(), nil
}
