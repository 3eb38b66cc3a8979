package main

import (
	"context"
	"fmt"
	"os"

	"github.com/wgtorrent/wgtorrent/internal/lab/demo"
)

type demoCmd struct{}

func (demoCmd) Run(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("demo: needs root (it builds network namespaces); run: sudo %s demo", os.Args[0])
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: find own binary: %w", err)
	}
	return demo.Run(ctx, os.Stdout, self)
}
