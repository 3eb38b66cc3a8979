//go:build !linux

package killswitch

import "errors"

// Watch is Linux only.
func (f Firewall) Watch() (<-chan struct{}, func(), error) {
	return nil, nil, errors.New("killswitch: Linux only")
}
