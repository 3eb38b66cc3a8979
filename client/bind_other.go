//go:build !linux

package client

import (
	"errors"
	"syscall"
)

func bindToDevice(iface string) func(network, address string, c syscall.RawConn) error {
	if iface == "" {
		return nil
	}
	return func(string, string, syscall.RawConn) error {
		return errors.New("client: binding sockets to an interface needs Linux (SO_BINDTODEVICE)")
	}
}
