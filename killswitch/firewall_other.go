//go:build !linux

package killswitch

import "errors"

// ErrUnsupported: the kill switch needs Linux nftables.
var ErrUnsupported = errors.New("killswitch: nftables kill switch is only available on Linux")

func (f Firewall) Apply(rs RuleSet) error  { return ErrUnsupported }
func (f Firewall) Remove() error           { return ErrUnsupported }
func (f Firewall) Status() (Status, error) { return Status{}, ErrUnsupported }
