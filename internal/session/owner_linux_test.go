//go:build linux

package session

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// One owner at a time: a second claim is refused with the first one's PID
// and interface, and succeeds once the first is released.
func TestOwnerExclusive(t *testing.T) {
	// A name of the test's own: the real one belongs to whatever wgtorrent
	// may run in this namespace.
	ownerSocket = fmt.Sprintf("@wgtorrent-test/%d/%d", os.Getpid(), time.Now().UnixNano())
	a, err := AcquireOwner(OwnerInfo{PID: 4242, Interface: "wgt7", Mode: "on", Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireOwner(OwnerInfo{PID: os.Getpid(), Interface: "wgt1"})
	if !errors.Is(err, ErrOwned) || !strings.Contains(err.Error(), "PID 4242") || !strings.Contains(err.Error(), "interface wgt7") {
		t.Fatalf("second claim: %v; want ErrOwned naming PID 4242 and interface wgt7", err)
	}
	t.Logf("refusal: %v", err)
	a.Release()
	a.Release() // harmless
	b, err := AcquireOwner(OwnerInfo{PID: os.Getpid(), Interface: "wgt1"})
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	b.Release()
}
