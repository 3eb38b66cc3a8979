//go:build linux

package killswitch

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// ourTables counts tables named TableName (family inet) in the namespace.
func ourTables(t *testing.T, nsfd int) int {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(nsfd))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	n := 0
	for _, tb := range tables {
		if tb.Name == TableName {
			n++
		}
	}
	return n
}

func TestFirewallApplyReadBack(t *testing.T) {
	requireRoot(t)
	hostBefore, hostErr := Firewall{}.Status() // read only: the host's table is never touched
	ns := newNS(t)
	fw := Firewall{NetNS: ns.fd()}

	if st, err := fw.Status(); err != nil || st.Present {
		t.Fatalf("fresh namespace: Status = %+v, %v; want absent", st, err)
	}
	if err := fw.Remove(); err != nil {
		t.Fatalf("Remove without a table: %v", err)
	}

	spec := baseSpec()
	spec.Endpoints = []netip.AddrPort{ep4, ep6}
	spec.AllowLAN = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	spec.LANInboundPorts = []uint16{9091}
	rs, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second Apply replaces the first
		if err := fw.Apply(rs); err != nil {
			t.Fatalf("Apply #%d: %v", i+1, err)
		}
	}
	if n := ourTables(t, ns.fd()); n != 1 {
		t.Fatalf("%d tables named %s after two Apply, want 1", n, TableName)
	}

	c, err := nftables.New(nftables.WithNetNSFd(ns.fd()))
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	for _, want := range rs.Chains {
		ch, err := c.ListChain(table, want.Name)
		if err != nil {
			t.Fatalf("chain %s: %v", want.Name, err)
		}
		if want.Hook != "" {
			if ch.Policy == nil || *ch.Policy != nftables.ChainPolicyDrop {
				t.Errorf("chain %s: policy %v, want drop", want.Name, ch.Policy)
			}
			if ch.Hooknum == nil || *ch.Hooknum != *hooks[want.Hook] {
				t.Errorf("chain %s: hook %v, want %s", want.Name, ch.Hooknum, want.Hook)
			}
		}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) != len(want.Rules) {
			t.Errorf("chain %s: %d rules in the kernel, want %d (duplicated by the second Apply?)", want.Name, len(rules), len(want.Rules))
		}
	}

	st, err := fw.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Present || st.Mode != ModeOn {
		t.Errorf("Status = present %v mode %q, want present, mode on", st.Present, st.Mode)
	}
	for _, want := range []string{
		`chain output {`,
		`type filter hook output priority 0; policy drop;`,
		`oifname "wgt0" accept`,
		`meta mark 0x0000ca6c ip6 daddr 2001:db8::1 udp dport 51821 accept`,
		"counter packets 0 bytes 0 reject with icmpx admin-prohibited # everything else",
		`chain mode-on {`,
	} {
		if !strings.Contains(st.Rules, want) {
			t.Errorf("status listing lacks %q:\n%s", want, st.Rules)
		}
	}

	spec.Mode = ModePersist
	rsPersist, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Apply(rsPersist); err != nil {
		t.Fatalf("Apply persist: %v", err)
	}
	if st, err := fw.Status(); err != nil || st.Mode != ModePersist || strings.Contains(st.Rules, "mode-on") {
		t.Errorf("after persist: Status mode %q, %v; listing:\n%s", st.Mode, err, st.Rules)
	}
	if n := ourTables(t, ns.fd()); n != 1 {
		t.Errorf("%d tables after mode change, want 1", n)
	}

	for i := 0; i < 2; i++ {
		if err := fw.Remove(); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	if st, err := fw.Status(); err != nil || st.Present {
		t.Errorf("after Remove: Status = %+v, %v; want absent", st, err)
	}
	if n := ourTables(t, ns.fd()); n != 0 {
		t.Errorf("%d tables after Remove", n)
	}
	if hostAfter, err := (Firewall{}).Status(); hostErr == nil && (err != nil || hostAfter.Present != hostBefore.Present) {
		t.Errorf("host namespace changed: table present %v before, %v after (%v)", hostBefore.Present, hostAfter.Present, err)
	}
}

// dialTCP connects from inside ns and reports how long it took.
func dialTCP(ns *testNS, addr string, timeout time.Duration) (time.Duration, error) {
	var took time.Duration
	err := ns.run(func() error {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, timeout)
		took = time.Since(start)
		if err != nil {
			return err
		}
		return c.Close()
	})
	return took, err
}

// sendUDP sends payload from inside ns, from a socket carrying mark (0: none).
func sendUDP(ns *testNS, addr string, mark uint32, payload string) error {
	return ns.run(func() error {
		d := net.Dialer{Control: func(network, address string, rc syscall.RawConn) error {
			if mark == 0 {
				return nil
			}
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
			}); err != nil {
				return err
			}
			return serr
		}}
		c, err := d.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(payload))
		return err
	})
}

// recvUntil reads from c until want arrives or the deadline passes, and
// returns every payload seen.
func recvUntil(c *net.UDPConn, want string, within time.Duration) (seen []string, ok bool) {
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return seen, false
		}
		seen = append(seen, string(buf[:n]))
		if string(buf[:n]) == want {
			return seen, true
		}
	}
}

func isFastRefusal(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPERM) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EACCES)
}

// TestKillSwitchBehaviour: namespace A runs the kill switch; B is both "the
// LAN" (lan0, 10.99.0.0/24, also the WireGuard endpoint's host) and "the
// far side of the tunnel" (a veth named wgt0 in A, 10.98.0.0/24).
func TestKillSwitchBehaviour(t *testing.T) {
	requireRoot(t)
	a, b := newNS(t), newNS(t)
	link(t, a, "lan0", []string{"10.99.0.1/24", "fd99::1/64"}, b, "lan0b", []string{"10.99.0.2/24", "fd99::2/64"})
	link(t, a, "wgt0", []string{"10.98.0.1/24", "fd98::1/64"}, b, "wgt0b", []string{"10.98.0.2/24", "fd98::2/64"})
	const mark = 0x5157
	fw := Firewall{NetNS: a.fd()}

	b.listenTCP(t, "[::]:7000") // a service "on the internet"
	b.listenTCP(t, "[::]:53")   // a LAN DNS server over TCP
	bUDP := b.listenUDP(t, "[::]:7001")
	bDNS := b.listenUDP(t, "[::]:53")
	bEndpoint := b.listenUDP(t, "[::]:51820")
	a.listenTCP(t, "[::]:9091") // the RPC port, allowed from the LAN when asked
	a.listenTCP(t, "[::]:9092") // a port never allowed
	aLoop := a.listenTCP(t, "127.0.0.1:0")

	if _, err := dialTCP(a, "10.99.0.2:7000", 2*time.Second); err != nil {
		t.Fatalf("lab broken: A cannot reach B before the kill switch: %v", err)
	}

	spec := Spec{
		TunnelInterface: "wgt0",
		Endpoints:       []netip.AddrPort{netip.MustParseAddrPort("10.99.0.2:51820")},
		FwMark:          mark,
		ListenPort:      51999,
	}
	apply := func(s Spec) {
		t.Helper()
		rs, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Apply(rs); err != nil {
			t.Fatal(err)
		}
	}
	status := func() Status {
		t.Helper()
		st, err := fw.Status()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	refusedFast := func(addr string) {
		t.Helper()
		took, err := dialTCP(a, addr, 3*time.Second)
		if err == nil || !isFastRefusal(err) || took > time.Second {
			t.Errorf("TCP %s from A: err %v after %v, want a refusal (ECONNREFUSED/EPERM/EHOSTUNREACH) at once", addr, err, took)
		}
	}
	connects := func(from *testNS, addr string) {
		t.Helper()
		if _, err := dialTCP(from, addr, 2*time.Second); err != nil {
			t.Errorf("TCP %s: %v, want a connection", addr, err)
		}
	}
	// udpBlocked: the send fails, or at least the packet never arrives before
	// a later packet sent through an allowed path.
	udpBlocked := func(dst string, recv *net.UDPConn, allowedDst string) {
		t.Helper()
		werr := sendUDP(a, dst, 0, "leak")
		if err := sendUDP(a, allowedDst, 0, "probe"); err != nil {
			t.Fatalf("probe to %s: %v", allowedDst, err)
		}
		seen, ok := recvUntil(recv, "probe", 2*time.Second)
		if !ok || len(seen) != 1 {
			t.Errorf("UDP to %s (send error %v): B saw %q, want only the probe", dst, werr, seen)
		}
		t.Logf("UDP to %s: send error %v", dst, werr)
	}

	apply(spec)
	before := status()
	if !before.Present || before.Mode != ModeOn {
		t.Fatalf("status after Apply: %+v", before)
	}

	t.Run("no LAN", func(t *testing.T) {
		refusedFast("10.99.0.2:7000")
		refusedFast("[fd99::2]:7000")
		udpBlocked("10.99.0.2:7001", bUDP, "10.98.0.2:7001")
		connects(a, aLoop.Addr().String())
		connects(a, "10.98.0.2:7000")
		// The tunnel has no IPv6 here: IPv6 is refused even through it.
		refusedFast("[fd98::2]:7000")

		// Only the marked socket reaches the endpoint, and only its port.
		if err := sendUDP(a, "10.99.0.2:51820", mark, "marked"); err != nil {
			t.Errorf("marked send to the endpoint: %v", err)
		}
		if seen, ok := recvUntil(bEndpoint, "marked", 2*time.Second); !ok {
			t.Errorf("endpoint did not receive the marked packet; saw %q", seen)
		}
		udpBlocked("10.99.0.2:51820", bEndpoint, "10.98.0.2:51820") // unmarked: blocked
		if err := sendUDP(a, "10.99.0.2:7001", mark, "marked-wrong-port"); err == nil {
			if seen, _ := recvUntil(bUDP, "marked-wrong-port", 300*time.Millisecond); len(seen) != 0 {
				t.Errorf("marked packet to a non-endpoint port got through: %q", seen)
			}
		}

		// Inbound from the LAN is dropped and counted.
		if err := sendUDP(b, "10.99.0.1:9999", 0, "inbound"); err != nil {
			t.Fatalf("send from B: %v", err)
		}
		deadline := time.Now().Add(2 * time.Second)
		st := status()
		for st.DroppedIn == before.DroppedIn && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // polling an external counter
			st = status()
		}
		if st.DroppedIn <= before.DroppedIn || st.RejectedOut <= before.RejectedOut {
			t.Errorf("counters did not grow: dropped in %d -> %d, rejected out %d -> %d\n%s",
				before.DroppedIn, st.DroppedIn, before.RejectedOut, st.RejectedOut, st.Rules)
		}
	})

	t.Run("from the tunnel: the engine's ports only", func(t *testing.T) {
		if _, err := dialTCP(b, "10.98.0.1:9092", 300*time.Millisecond); err == nil {
			t.Errorf("a peer in the tunnel reached A's port 9092 (listening on every address), with no inbound port admitted")
		}
		s := spec
		s.InboundTCP = []uint16{9092}
		apply(s)
		connects(b, "10.98.0.1:9092")
		if _, err := dialTCP(b, "10.99.0.1:9092", 300*time.Millisecond); err == nil {
			t.Errorf("B reached port 9092 from the LAN: admitted through the tunnel only")
		}
		if _, err := dialTCP(b, "10.98.0.1:9091", 300*time.Millisecond); err == nil {
			t.Errorf("a peer in the tunnel reached A's port 9091, not admitted")
		}
		apply(spec)
	})

	t.Run("LAN allowed", func(t *testing.T) {
		s := spec
		s.AllowLAN = []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24"), netip.MustParsePrefix("fd99::/64")}
		s.LANInboundPorts = []uint16{9091}
		s.TunnelIPv6 = true
		apply(s)
		connects(a, "10.99.0.2:7000")
		connects(a, "[fd99::2]:7000")
		connects(a, "[fd98::2]:7000") // IPv6 through the tunnel now
		refusedFast("10.99.0.2:53")   // DNS only through the tunnel
		udpBlocked("10.99.0.2:53", bDNS, "10.98.0.2:53")
		connects(b, "10.99.0.1:9091")
		connects(b, "[fd99::1]:9091")
		if _, err := dialTCP(b, "10.99.0.1:9092", 300*time.Millisecond); err == nil {
			t.Errorf("B reached A's port 9092, which is not in LANInboundPorts")
		}
	})

	t.Run("tunnel interface recreated", func(t *testing.T) {
		l, err := a.nl.LinkByName("wgt0")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.nl.LinkDel(l); err != nil {
			t.Fatal(err)
		}
		link(t, a, "wgt0", []string{"10.98.0.1/24"}, b, "wgt0b", []string{"10.98.0.2/24"})
		connects(a, "10.98.0.2:7000") // matched by name, so the new interface works
	})

	if err := fw.Remove(); err != nil {
		t.Fatal(err)
	}
	connects(a, "10.99.0.2:7000")
}

// Verify passes exactly while the kernel holds what was applied: a missing
// table, a table of another generation and a deleted rule all fail it, and
// Remove takes the arp table with the inet one.
func TestFirewallVerify(t *testing.T) {
	requireRoot(t)
	ns := newNS(t)
	fw := Firewall{NetNS: ns.fd()}
	spec := baseSpec()
	spec.TunnelAddresses = []netip.Prefix{netip.MustParsePrefix("10.66.0.2/32"), netip.MustParsePrefix("fd00:66::2/128")}
	spec.TunnelIPv6 = true
	spec.AllowLAN = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	spec.Generation = "1-a"
	rs, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Verify(rs); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Verify before Apply: %v, want ErrNotInstalled", err)
	}
	if err := fw.Apply(rs); err != nil {
		t.Fatal(err)
	}
	if err := fw.Verify(rs); err != nil {
		t.Fatalf("Verify after Apply: %v\n%s", err, rs)
	}
	spec.Generation = "2-b"
	other, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Verify(other); !errors.Is(err, ErrChanged) {
		t.Errorf("Verify of another generation: %v, want ErrChanged", err)
	}

	c, err := nftables.New(nftables.WithNetNSFd(ns.fd()))
	if err != nil {
		t.Fatal(err)
	}
	// Delete one rule of the input chain, as `nft delete rule` would.
	tbl := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	rules, err := c.GetRules(tbl, &nftables.Chain{Name: "input", Table: tbl})
	if err != nil || len(rules) == 0 {
		t.Fatalf("rules of input: %v, %v", len(rules), err)
	}
	if err := c.DelRule(rules[len(rules)-1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := fw.Verify(rs); !errors.Is(err, ErrChanged) {
		t.Errorf("Verify with a rule deleted: %v, want ErrChanged", err)
	} else {
		t.Logf("rule deleted: %v", err)
	}
	// The arp table alone gone.
	if err := fw.Apply(rs); err != nil {
		t.Fatal(err)
	}
	c.DelTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyARP})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := fw.Verify(rs); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Verify without the arp table: %v, want ErrNotInstalled", err)
	}
	if err := fw.Apply(rs); err != nil {
		t.Fatal(err)
	}
	if err := fw.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyINet, nftables.TableFamilyARP} {
		tables, err := c.ListTablesOfFamily(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if tb.Name == TableName {
				t.Errorf("table family %d left after Remove", fam)
			}
		}
	}
}
