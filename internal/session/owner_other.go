//go:build !linux

package session

import "errors"

// ErrOwned means another live process owns this network namespace's kill
// switch and routing.
var ErrOwned = errors.New("another wgtorrent owns the kill switch and routing of this network namespace")

// OwnerInfo describes the owner.
type OwnerInfo struct {
	PID       int
	Interface string
	Mode      string
}

// Owner is a claim on the network namespace (Linux only).
type Owner struct{}

// AcquireOwner is Linux only.
func AcquireOwner(OwnerInfo) (*Owner, error) { return nil, errors.New("session: Linux only") }

// Release does nothing.
func (o *Owner) Release() {}

// QueryOwner is Linux only.
func QueryOwner() string { return "Linux only" }

// LiveOwner is Linux only.
func LiveOwner() (string, bool) { return "", false }
