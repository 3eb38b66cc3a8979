//go:build linux

package killswitch

import (
	"fmt"
	"sync"

	"github.com/google/nftables"
)

// Watch reports, without detail, that some nftables table, chain or rule
// of the firewall's namespace was added or deleted (ours or anyone's), so
// a caller can Verify at once instead of at its next poll. A missed event
// (the socket's buffer overran) is possible: callers keep polling too.
// stop ends the watch and closes changes.
func (f Firewall) Watch() (changes <-chan struct{}, stop func(), err error) {
	c, done, err := f.conn()
	if err != nil {
		return nil, nil, err
	}
	mon := nftables.NewMonitor(
		nftables.WithMonitorAction(nftables.MonitorActionAny),
		nftables.WithMonitorObject(nftables.MonitorObjectTables|nftables.MonitorObjectChains|nftables.MonitorObjectRules),
	)
	events, err := c.AddMonitor(mon)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("killswitch: watch nftables: %w", err)
	}
	out := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		for range events {
			select {
			case out <- struct{}{}:
			default: // one pending signal is enough
			}
		}
	})
	// In a namespace the monitor reads the lasting socket, which its
	// Close leaves open: done closes it, and so ends the monitor.
	return out, func() { _ = mon.Close(); done(); wg.Wait() }, nil
}
