package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// labSeedCmd seeds a torrent WITHOUT a tunnel, for the demo's peer host. It
// refuses to run outside a lab's peer namespace, so it can never expose a
// user's address.
type labSeedCmd struct {
	Torrent string     `required:"" type:"existingfile"`
	Dir     string     `required:"" type:"existingdir"`
	Bind    netip.Addr `required:""`
	Port    int        `default:"6881"`
	Data    string     `required:"" type:"path"`
}

func (c *labSeedCmd) Run(ctx context.Context, log *slog.Logger) error {
	if !netlab.InLabNamespace() {
		return errors.New("lab-seed runs only inside a wgtorrent demo lab")
	}
	eng, err := client.New(ctx, client.Options{
		Binding:     client.Binding{IPv4: c.Bind},
		DataDir:     c.Data,
		DownloadDir: c.Dir,
		ListenPort:  c.Port,
		Seed:        true,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	src, err := client.ParseSource(c.Torrent)
	if err != nil {
		return err
	}
	id, err := eng.Add(ctx, src, client.AddOptions{})
	if err != nil {
		return err
	}
	// The demo starts the client once the data is verified.
	if err := eng.WaitComplete(ctx, id); err != nil {
		return err
	}
	fmt.Println("seeding")
	<-ctx.Done()
	return nil
}
