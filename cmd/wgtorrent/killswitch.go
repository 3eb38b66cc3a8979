package main

import (
	"fmt"
	"os"

	"github.com/wgtorrent/wgtorrent/internal/session"
	"github.com/wgtorrent/wgtorrent/killswitch"
)

type killswitchCmd struct {
	Status killswitchStatusCmd `cmd:"" help:"Show whether the kill switch is armed, its mode and its counters."`
	Off    killswitchOffCmd    `cmd:"" help:"Remove the kill switch (also one left by --killswitch persist or a crash)."`
}

type killswitchStatusCmd struct {
	Verbose bool `short:"v" help:"Also print the rules."`
}

func (c *killswitchStatusCmd) Run() error {
	st, err := killswitch.Firewall{}.Status()
	if err != nil {
		return err
	}
	if !st.Present {
		fmt.Println("kill switch: not armed (no table", killswitch.TableName+")")
		return nil
	}
	fmt.Printf("kill switch: armed, mode %s\nrejected outgoing packets: %d\ndropped incoming packets: %d\n",
		st.Mode, st.RejectedOut, st.DroppedIn)
	if owner, ok := session.LiveOwner(); ok {
		fmt.Println("owner:", owner)
	} else {
		fmt.Println("owner: none running (left by --killswitch persist or a crash; the next start replaces it)")
	}
	if c.Verbose {
		fmt.Print(st.Rules)
	}
	return nil
}

type killswitchOffCmd struct{}

func (killswitchOffCmd) Run() error {
	// A running wgtorrent owns its kill switch: removing it under it would
	// open the machine while it still says "armed" (it would put it back at
	// once anyway). Holding the claim while removing also keeps one from
	// starting halfway.
	owner, err := session.AcquireOwner(session.OwnerInfo{PID: os.Getpid(), Mode: "removing"})
	if err != nil {
		return fmt.Errorf("%w: stop that wgtorrent instead (it removes its kill switch on exit unless --killswitch persist)", err)
	}
	defer owner.Release()
	if err := (killswitch.Firewall{}).Remove(); err != nil {
		return err
	}
	fmt.Println("kill switch removed: traffic is no longer blocked outside the tunnel")
	return nil
}
