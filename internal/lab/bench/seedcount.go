//go:build linux

package bench

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// seedCounter counts the TCP payload-carrying bytes each seeder sends, with
// one nftables counter per seeder address and port in the peer host's own
// namespace: which seeders served a run tells a slow seeder from a slow
// leecher (a run served by one seeder alone looks like any other from the
// host's uplink counter).
type seedCounter struct {
	c     *nftables.Conn
	table *nftables.Table
	chain *nftables.Chain
}

func newSeedCounter(h *netlab.Host, seeders map[netip.AddrPort]string) (*seedCounter, error) {
	c, err := nftables.New(nftables.WithNetNSFd(int(h.NsHandle())))
	if err != nil {
		return nil, fmt.Errorf("bench: nftables in %s: %w", h.NetNS, err)
	}
	s := &seedCounter{c: c}
	s.table = c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "wgtorrent_bench"})
	s.chain = c.AddChain(&nftables.Chain{
		Name: "seeders", Table: s.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter,
	})
	for ap, name := range seeders {
		a4 := ap.Addr().As4()
		c.AddRule(&nftables.Rule{Table: s.table, Chain: s.chain, UserData: []byte(name), Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a4[:]},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, ap.Port())},
			&expr.Counter{},
		}})
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("bench: seeder counters: %w", err)
	}
	return s, nil
}

// read returns the bytes sent so far by each seeder, by name.
func (s *seedCounter) read() (map[string]uint64, error) {
	rules, err := s.c.GetRules(s.table, s.chain)
	if err != nil {
		return nil, fmt.Errorf("bench: read seeder counters: %w", err)
	}
	out := map[string]uint64{}
	for _, r := range rules {
		for _, e := range r.Exprs {
			if c, ok := e.(*expr.Counter); ok {
				out[string(r.UserData)] = c.Bytes
			}
		}
	}
	return out, nil
}

func (s *seedCounter) close() {
	s.c.DelTable(s.table)
	s.c.Flush()
}

// sentSince returns what each seeder sent between two reads, in MB.
func sentSince(before, after map[string]uint64) map[string]float64 {
	mb := map[string]float64{}
	for name, b := range after {
		mb[name] = float64(b-before[name]) / 1e6
	}
	return mb
}

// servedBy says what share of the data each seeder sent, biggest first.
func servedBy(mb map[string]float64) string {
	var total float64
	names := make([]string, 0, len(mb))
	for n, v := range mb {
		total += v
		names = append(names, n)
	}
	if total == 0 {
		return "nobody"
	}
	sort.Slice(names, func(i, j int) bool { return mb[names[i]] > mb[names[j]] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.0f%%", n, 100*mb[n]/total)
	}
	return strings.Join(parts, ", ")
}
