//go:build !linux

package rpc

import "errors"

func freeSpace(string) (int64, int64, error) {
	return 0, 0, errors.New("free space is only measured on Linux")
}
