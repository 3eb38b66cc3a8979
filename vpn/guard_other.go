//go:build !linux

package vpn

import "errors"

// RoutingProblems is Linux only.
func (t *Tunnel) RoutingProblems() ([]string, error) { return nil, errors.New("vpn: Linux only") }

// RestoreRouting is Linux only.
func (t *Tunnel) RestoreRouting() error { return errors.New("vpn: Linux only") }
