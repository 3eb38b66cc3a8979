package client

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Same storage I/O as the product (see ReexecForClassicFileIO).
	if err := ReexecForClassicFileIO(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
