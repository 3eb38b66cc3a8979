//go:build !linux

package userns

import (
	"context"
	"errors"
)

// ErrUnsupported: user namespaces are Linux's.
var ErrUnsupported = errors.New("no private network namespace on this system")

func Inside() bool                     { return false }
func Needed() bool                     { return false }
func Check() error                     { return ErrUnsupported }
func Denied(err error) error           { return err }
func Run(context.Context) (int, error) { return 0, ErrUnsupported }
