//go:build linux

package netlab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// NATPMP is a NAT-PMP gateway on the VPN host (Debian's miniupnpd): it
// forwards a port of the VPN's public address to the tunnel client, as
// ProtonVPN's P2P servers do. VPN2 has none.
type NATPMP struct {
	Log *SyncBuffer
	cmd *Cmd
}

// natpmpPublicIP is what miniupnpd quotes as its public address: it
// refuses the lab's reserved 198.18.0.0/15 as one. Nothing is ever sent
// to it; peers reach the mapping at the VPN host's real address.
const natpmpPublicIP = "11.22.33.44"

// StartNATPMP runs miniupnpd answering NAT-PMP on the tunnel interface
// iface (the WireGuard server's), mapping only public ports first..last to
// tunnel clients. dir holds its configuration, lease and pid files.
func (l *Lab) StartNATPMP(ctx context.Context, dir, iface string, first, last uint16) (*NATPMP, error) {
	if err := l.natpmpTables(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`ext_ifname=%s
listening_ip=%s
ext_ip=%s
enable_natpmp=yes
enable_upnp=no
secure_mode=no
system_uptime=yes
lease_file=%s
allow %d-%d %s 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`, HostIface, iface, natpmpPublicIP, filepath.Join(dir, "leases"), first, last, TunnelNet4)
	path := filepath.Join(dir, "miniupnpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	n := &NATPMP{Log: &SyncBuffer{}}
	// -P: a pid file of its own; the default one would keep a second lab's
	// miniupnpd from starting.
	n.cmd = l.VPN.Command(context.Background(), "miniupnpd", "-d", "-f", path, "-P", filepath.Join(dir, "pid"))
	n.cmd.Stdout, n.cmd.Stderr = n.Log, n.Log
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start miniupnpd: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n.Log.String(), "Listening for NAT-PMP") {
		if time.Now().After(deadline) || ctx.Err() != nil {
			n.Stop()
			return nil, fmt.Errorf("netlab: miniupnpd not listening within 10s:\n%s", n.Log)
		}
		time.Sleep(50 * time.Millisecond) // polling another program's start-up
	}
	return n, nil
}

// Stop ends miniupnpd (its mappings go with it).
func (n *NATPMP) Stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = n.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
}

// natpmpTables makes, on the VPN host, the nftables chains miniupnpd's
// nftables backend writes its rules into (Debian's nft_init.sh makes them
// with the nft program): table inet "filter" with a forward chain jumping
// to "miniupnpd", and NAT chains jumping to "prerouting_miniupnpd" and
// "postrouting_miniupnpd". The chains it fills are emptied, so a restarted
// miniupnpd starts from no mapping.
func (l *Lab) natpmpTables() error {
	c, err := nftables.New(nftables.WithNetNSFd(int(l.VPN.ns)))
	if err != nil {
		return fmt.Errorf("netlab: nftables in vpn: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: "filter"}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("netlab: list nftables tables in vpn: %w", err)
	}
	for _, have := range tables {
		if have.Name == t.Name {
			for _, n := range []string{"miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"} {
				c.FlushChain(&nftables.Chain{Table: t, Name: n})
			}
			if err := c.Flush(); err != nil {
				return fmt.Errorf("netlab: empty miniupnpd's chains: %w", err)
			}
			return nil
		}
	}
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	for _, n := range []string{"miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"} {
		c.AddChain(&nftables.Chain{Table: t, Name: n})
	}
	for _, h := range []struct {
		name string
		typ  nftables.ChainType
		hook *nftables.ChainHook
		prio *nftables.ChainPriority
		to   string
	}{
		{"forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter, "miniupnpd"},
		{"prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, "prerouting_miniupnpd"},
		{"postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, "postrouting_miniupnpd"},
	} {
		ch := c.AddChain(&nftables.Chain{Table: t, Name: h.name, Type: h.typ, Hooknum: h.hook, Priority: h.prio, Policy: &accept})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: h.to}}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netlab: miniupnpd's nftables chains: %w", err)
	}
	return nil
}
