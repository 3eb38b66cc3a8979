// Package netlab builds a small internet inside network namespaces, for the
// root tests of wgtorrent and for `wgtorrent demo`.
//
// A lab is four namespaces (five with Options.SecondVPN) named
// "wgt-<id>-<role>":
//
//	client (198.18.1.2) ── isp (router) ── vpn  (198.18.2.2, WireGuard server on UDP 51820, NAT)
//	                                    ├── peer (198.18.3.2, tracker and seeders)
//	                                    └── vpn2 (198.18.4.2, with Options.SecondVPN: another server, as vpn)
//
// The client also reaches the peer directly through the ISP, so traffic that
// escapes the tunnel really gets out; a Capture on the ISP's side of the
// client's link sees every such packet. Addresses are in 198.18.0.0/15 and
// 2001:db8::/32, the tunnel in 100.64.0.0/24 and fd00:64::/64, so nothing can
// collide with the host's own networks.
//
// The package promises that it never changes the host's own namespace: every
// link, address, route, sysctl and nftables rule it makes lives in one of the
// lab's namespaces, and Close removes the namespaces and kills every process
// the lab started. It talks to the kernel through netlink and nftables, never
// by running `ip` or `nft`; third-party programs (wireguard-go, wg, tcpdump)
// run only when a caller asks for them.
//
// Beside the namespaces it holds what the tests, the benchmark and the demo
// all do around a lab: run a program and await its output lines (Proc),
// generate content and its torrent (MakeTorrent), answer announces with a
// tracker of its own (Tracker), drive Debian's opentracker and
// transmission-daemon, and check a download against the seeders' copy
// (SameTree).
package netlab
