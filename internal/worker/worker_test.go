package worker

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/vpn"
)

func TestCheckCaps(t *testing.T) {
	none := "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n"
	if err := checkCaps(none); err != nil {
		t.Errorf("no capabilities: %v", err)
	}
	netAdmin := "CapInh:\t0000000000000000\nCapPrm:\t0000000000001000\nCapEff:\t0000000000001000\nCapAmb:\t0000000000001000\n"
	if err := checkCaps(netAdmin); !errors.Is(err, ErrPrivileged) {
		t.Errorf("CAP_NET_ADMIN held: %v, want ErrPrivileged", err)
	}
	inheritable := "CapInh:\t0000000000001000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n"
	if err := checkCaps(inheritable); !errors.Is(err, ErrPrivileged) {
		t.Errorf("inheritable CAP_NET_ADMIN: %v, want ErrPrivileged", err)
	}
	if err := checkCaps("Name:\tx\n"); err == nil {
		t.Error("no capability lines: accepted")
	}
}

func TestProtocol(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	hs := time.Unix(1_700_000_000, 123456789)
	cfg := Config{Interface: "wgt0", DataDir: "/d", RPCPassword: "p", DHTBootstrap: []string{"a:1"}}
	if err := w.Config(cfg); err != nil {
		t.Fatal(err)
	}
	r := NewReport(vpn.Status{State: vpn.StateUp, LastHandshake: hs, Endpoint: "198.18.2.2:51820"})
	r.KillSwitchArmed, r.Rebuilt = true, true
	if err := w.Report(r); err != nil {
		t.Fatal(err)
	}
	rd := NewReader(&buf)
	got, err := rd.Config()
	if err != nil || got.Interface != "wgt0" || got.RPCPassword != "p" || got.DHTBootstrap[0] != "a:1" {
		t.Fatalf("config %+v, %v", got, err)
	}
	rep, err := rd.Report()
	if err != nil || !rep.Status().LastHandshake.Equal(hs) || rep.Status().State != vpn.StateUp || !rep.KillSwitchArmed || !rep.Rebuilt {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if _, err := rd.Report(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last report: %v, want io.EOF (the parent is gone)", err)
	}
}
