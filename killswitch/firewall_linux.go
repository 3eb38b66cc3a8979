//go:build linux

package killswitch

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"

	"github.com/wgtorrent/wgtorrent/internal/netns"
)

// conn opens nftables' netlink; done closes it.
func (f Firewall) conn() (c *nftables.Conn, done func(), err error) {
	if f.NetNS == 0 {
		c, err = nftables.New()
		done = func() {}
	} else {
		// One lasting socket, made inside the namespace (a socket keeps
		// the namespace it was made in).
		err = netns.DoFd(f.NetNS, func() (err error) {
			c, err = nftables.New(nftables.AsLasting())
			return err
		})
		done = func() { _ = c.CloseLasting() }
	}
	if err != nil {
		return nil, nil, fmt.Errorf("killswitch: open nftables netlink: %w", err)
	}
	return c, done, nil
}

// Apply installs rs in one atomic netlink batch, replacing any table of ours
// without a moment where no table is there.
func (f Firewall) Apply(rs RuleSet) error {
	c, done, err := f.conn()
	if err != nil {
		return err
	}
	defer done()
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
	c, done, err := f.conn()
	if err != nil {
		return err
	}
	defer done()
	// Adding first makes the delete valid whether or not the table exists,
	// in one transaction, with no list-then-delete race.
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyINet, nftables.TableFamilyARP} {
		t := &nftables.Table{Name: TableName, Family: fam}
		c.AddTable(t)
		c.DelTable(t)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("killswitch: remove table %q: %w", TableName, err)
	}
	return nil
}

// Status reads our table back from the kernel.
func (f Firewall) Status() (Status, error) {
	c, done, err := f.conn()
	if err != nil {
		return Status{}, err
	}
	defer done()
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
	if ch.Table != nil && ch.Table.Family == nftables.TableFamilyARP {
		hook := map[nftables.ChainHook]Hook{0: HookInput, 1: HookOutput}[*ch.Hooknum]
		return chainHeader(ch, hook)
	}
	hook := map[nftables.ChainHook]Hook{
		*nftables.ChainHookInput:      HookInput,
		*nftables.ChainHookOutput:     HookOutput,
		*nftables.ChainHookForward:    HookForward,
		*nftables.ChainHookPrerouting: HookPrerouting,
	}[*ch.Hooknum]
	return chainHeader(ch, hook)
}

func chainHeader(ch *nftables.Chain, hook Hook) string {
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

// Errors returned by Verify.
var (
	ErrNotInstalled = errors.New("kill switch table is not in the kernel")
	ErrChanged      = errors.New("kill switch table differs from what was applied")
)

// Verify reads our tables back from the kernel and compares them with rs,
// chain by chain and rule by rule (reasons included, counters not): nil
// means the kernel holds exactly what rs says, generation chain included,
// so a table written by anyone else (or edited) does not pass.
func (f Firewall) Verify(rs RuleSet) error {
	c, done, err := f.conn()
	if err != nil {
		return err
	}
	defer done()
	check := func(fam nftables.TableFamily, famName string, want []Chain) error {
		got, present, err := readChains(c, rs.Table, fam)
		if err != nil {
			return err
		}
		if !present {
			if len(want) == 0 {
				return nil
			}
			return fmt.Errorf("killswitch: table %s %s: %w", famName, rs.Table, ErrNotInstalled)
		}
		if len(want) == 0 {
			return fmt.Errorf("killswitch: table %s %s present but not applied by us: %w", famName, rs.Table, ErrChanged)
		}
		exp := canonChains(want)
		if got != exp {
			return fmt.Errorf("killswitch: table %s %s: %w: %s", famName, rs.Table, ErrChanged, firstDiff(exp, got))
		}
		return nil
	}
	if err := check(nftables.TableFamilyINet, "inet", rs.Chains); err != nil {
		return err
	}
	return check(nftables.TableFamilyARP, "arp", rs.ARP)
}

// canonChains renders chains sorted by name, with headers and rules with
// their reasons: the form Verify compares.
func canonChains(chains []Chain) string {
	lines := make([]string, 0, len(chains))
	for _, ch := range chains {
		var b strings.Builder
		fmt.Fprintf(&b, "chain %s {%s}", ch.Name, ch.Header())
		for _, r := range ch.Rules {
			why := r.Why
			if len(why) > maxComment {
				why = why[:maxComment]
			}
			fmt.Fprintf(&b, "\n\t%s # %s", r, why)
		}
		lines = append(lines, b.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// readChains renders the kernel's chains of table name in family fam as
// canonChains does; present is false when there is no such table.
func readChains(c *nftables.Conn, name string, fam nftables.TableFamily) (canon string, present bool, err error) {
	chains, err := c.ListChainsOfTableFamily(fam)
	if err != nil {
		return "", false, fmt.Errorf("killswitch: list chains: %w", err)
	}
	tables, err := c.ListTablesOfFamily(fam)
	if err != nil {
		return "", false, fmt.Errorf("killswitch: list tables: %w", err)
	}
	var t *nftables.Table
	for _, tb := range tables {
		if tb.Name == name {
			t = tb
		}
	}
	if t == nil {
		return "", false, nil
	}
	var lines []string
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != name {
			continue
		}
		var b strings.Builder
		header := ""
		if ch.Hooknum != nil {
			header = kernelChainHeader(ch)
		}
		fmt.Fprintf(&b, "chain %s {%s}", ch.Name, header)
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return "", true, fmt.Errorf("killswitch: list rules of chain %s: %w", ch.Name, err)
		}
		for _, kr := range rules {
			why, _ := userdata.GetString(kr.UserData, userdata.TypeComment)
			r, _, ok := decodeRule(kr.Exprs)
			if !ok {
				fmt.Fprintf(&b, "\n\t(rule handle %d not written by wgtorrent) # %s", kr.Handle, why)
				continue
			}
			fmt.Fprintf(&b, "\n\t%s # %s", r, why)
		}
		lines = append(lines, b.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), true, nil
}

// firstDiff names the first difference between two canonChains texts, by
// chain and rule.
func firstDiff(want, got string) string {
	split := func(text string) (names []string, chains map[string][]string) {
		chains = map[string][]string{}
		var cur string
		for _, l := range strings.Split(text, "\n") {
			if name, ok := strings.CutPrefix(l, "chain "); ok {
				cur, _, _ = strings.Cut(name, " ")
				names = append(names, cur)
				chains[cur] = []string{l}
				continue
			}
			chains[cur] = append(chains[cur], strings.TrimSpace(l))
		}
		return names, chains
	}
	wn, wc := split(want)
	gn, gc := split(got)
	for _, n := range wn {
		g, ok := gc[n]
		if !ok {
			return fmt.Sprintf("chain %s missing", n)
		}
		w := wc[n]
		for i := range max(len(w), len(g)) {
			switch {
			case i >= len(g):
				return fmt.Sprintf("chain %s: rule %q missing", n, w[i])
			case i >= len(w):
				return fmt.Sprintf("chain %s: extra rule %q", n, g[i])
			case w[i] != g[i]:
				return fmt.Sprintf("chain %s: want %q, kernel has %q", n, w[i], g[i])
			}
		}
	}
	for _, n := range gn {
		if _, ok := wc[n]; !ok {
			return fmt.Sprintf("extra chain %s", n)
		}
	}
	return "same text"
}
