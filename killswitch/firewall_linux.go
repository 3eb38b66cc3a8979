//go:build linux

package killswitch

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

func (f Firewall) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if f.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(f.NetNS))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("killswitch: open nftables netlink: %w", err)
	}
	return c, nil
}

// Apply installs rs in one atomic netlink batch, replacing any table of ours
// without a moment where no table is there.
func (f Firewall) Apply(rs RuleSet) error {
	c, err := f.conn()
	if err != nil {
		return err
	}
	if err := rs.queue(c); err != nil {
		return fmt.Errorf("killswitch: apply table %q: %w", rs.Table, err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("killswitch: apply table %q: %w (is this root, or CAP_NET_ADMIN?)", rs.Table, err)
	}
	return nil
}

// Remove deletes our table; without one it does nothing.
func (f Firewall) Remove() error {
	c, err := f.conn()
	if err != nil {
		return err
	}
	// Adding first makes the delete valid whether or not the table exists,
	// in one transaction, with no list-then-delete race.
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("killswitch: remove table %q: %w", TableName, err)
	}
	return nil
}

// Status reads our table back from the kernel.
func (f Firewall) Status() (Status, error) {
	c, err := f.conn()
	if err != nil {
		return Status{}, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return Status{}, fmt.Errorf("killswitch: list tables: %w", err)
	}
	var t *nftables.Table
	for _, tb := range tables {
		if tb.Name == TableName {
			t = tb
		}
	}
	if t == nil {
		return Status{}, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return Status{}, fmt.Errorf("killswitch: list chains of %q: %w", TableName, err)
	}
	st := Status{Present: true}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != TableName {
			continue
		}
		if m, ok := strings.CutPrefix(ch.Name, modeChainPrefix); ok {
			st.Mode = Mode(m)
		}
		fmt.Fprintf(&b, "\tchain %s {\n", ch.Name)
		if ch.Hooknum != nil {
			fmt.Fprintf(&b, "\t\t%s\n", kernelChainHeader(ch))
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return Status{}, fmt.Errorf("killswitch: list rules of chain %s: %w", ch.Name, err)
		}
		for _, kr := range rules {
			why, _ := userdata.GetString(kr.UserData, userdata.TypeComment)
			r, counter, ok := decodeRule(kr.Exprs)
			if !ok {
				fmt.Fprintf(&b, "\t\t(rule handle %d not written by wgtorrent) # %s\n", kr.Handle, why)
				continue
			}
			counts := ""
			if counter != nil {
				counts = fmt.Sprintf("packets %d bytes %d", counter.Packets, counter.Bytes)
				switch {
				case ch.Name == "output" && r.Verdict.IsReject():
					st.RejectedOut += counter.Packets
				case ch.Name == "input" && r.Verdict == Drop:
					st.DroppedIn += counter.Packets
				}
			}
			fmt.Fprintf(&b, "\t\t%s # %s\n", r.format(counts), why)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	st.Rules = b.String()
	return st, nil
}

func kernelChainHeader(ch *nftables.Chain) string {
	hook := map[nftables.ChainHook]Hook{
		*nftables.ChainHookInput:   HookInput,
		*nftables.ChainHookOutput:  HookOutput,
		*nftables.ChainHookForward: HookForward,
	}[*ch.Hooknum]
	prio := int32(0)
	if ch.Priority != nil {
		prio = int32(*ch.Priority)
	}
	policy := "accept"
	if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
		policy = "drop"
	}
	return fmt.Sprintf("type %s hook %s priority %d; policy %s;", ch.Type, hook, prio, policy)
}
