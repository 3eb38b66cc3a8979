// Package killswitch is wgtorrent's fail-closed firewall: while it is
// installed, no packet leaves or enters the machine outside the WireGuard
// tunnel, whatever a program does and whether or not the tunnel is up.
//
// It is one nftables table of our own ("inet wgtorrent", IPv4 and IPv6 at
// once), written through netlink (google/nftables; no nft binary). Build turns
// a Spec into a RuleSet, plain data tested without root; Firewall applies it
// in one atomic netlink transaction that replaces any earlier table of ours
// (also one left by a crash) with no moment without rules. A clean exit
// removes the table in ModeOn; ModePersist leaves it (lockdown); a crash
// leaves it either way, so failure stays closed.
//
// Output (policy drop), in order:
//   - lo: local traffic never leaves the machine.
//   - ICMPv6 router/neighbour solicitation, neighbour advertisement, MLD
//     report, on-link only (hop limit 255/1), and DHCP client requests to
//     broadcast (255.255.255.255, ff02::1:2: they never leave the link; a
//     unicast renewal is refused and the client rebinds by broadcast): link
//     housekeeping without which the uplink (which carries the tunnel) dies.
//   - UDP to each endpoint address and port, only from a socket carrying the
//     tunnel's fwmark: the encrypted tunnel itself, and nothing else to the
//     VPN server outside the tunnel.
//   - without IPv6 in the tunnel: every other IPv6 packet is rejected.
//   - the tunnel interface, matched by name because it may be deleted and
//     created again (with a new index) while the table stays.
//   - DNS (port 53) to allowed LAN ranges is rejected: names are resolved
//     through the tunnel only, or every lookup would show on the LAN.
//   - allowed LAN ranges (this also covers replies to LAN inbound service).
//   - everything else is counted and rejected (TCP reset, else ICMP
//     admin-prohibited) so programs fail at once instead of hanging.
//
// There is deliberately no "ct state established accept" on output: a flow
// set up through the tunnel would then follow the fallback route out of the
// uplink when the tunnel dies.
//
// Input (policy drop): lo; from the tunnel, replies (established/related)
// and new connections to InboundTCP/InboundUDP (the engine's ports) only,
// other TCP segments that neither open nor reset a connection answered
// with a reset (a peer's side of a connection that died with a server
// left behind, so the peer drops it);
// replies only from allowed LAN ranges, the endpoints' UDP only to the
// tunnel's own socket port, ICMPv6 router advertisement and neighbour
// discovery, DHCP answers, and LAN hosts to LANInboundPorts; the rest is counted and
// dropped. There is no "ct state established,related accept" for the
// uplink: a spoofed packet fitting a tunnelled flow would reach its socket
// (CVE-2019-14899). Forward (policy drop): a host that routes for
// containers or VMs must not carry their traffic past the output rules.
//
// Anti-spoof (prerouting, raw priority -300, before conntrack): a packet to
// a tunnel address arriving on another interface from a non-local source is
// dropped (wg-quick's raw-table rule). A second table "arp wgtorrent" drops
// ARP requests for the tunnel's IPv4 addresses, which the kernel would
// otherwise answer on every interface (the effect Mullvad gets from
// arp_ignore=2, without changing a sysctl the rest of the host relies on).
//
// Verify reads both tables back and compares them, rule by rule and reason
// by reason, with what was applied; an empty chain "gen-<generation>" names
// the process and the moment that applied them, so a table written by
// anyone else does not pass.
//
// All chains use priority filter (0): after DNAT and re-routing chains, so the
// interface and address judged are final; a drop in any table wins anyway.
//
// The mode is recorded in the table as an empty chain "mode-<mode>", and each
// rule carries its reason as its nft comment; Status reads both back.
package killswitch
