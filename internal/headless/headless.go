// Package headless downloads torrents without a user interface: it adds
// them, reports progress (bars on a terminal, JSON lines otherwise) and
// returns once everything is complete and verified, or keeps seeding until
// a ratio or time limit.
package headless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// ErrInput marks a source the user must fix (bad magnet, missing file).
var ErrInput = errors.New("bad input")

// Tunnel is the live tunnel status the report shows.
type Tunnel interface{ Status() vpn.Status }

// Options for Run.
type Options struct {
	Sources    []client.Source // parsed by client.ParseSource
	Add        client.AddOptions
	Seed       bool             // keep seeding once complete
	SeedRatio  float64          // with Seed: each torrent's seeding goal (the engine stops it there; 0 = none)
	SeedTime   time.Duration    // with Seed: stop after seeding this long (0 = no limit)
	JSON       bool             // JSON lines even on a terminal
	Terminal   bool             // Out is a terminal: draw progress bars
	KillSwitch killswitch.State // for the report, when KillSwitchState is nil
	// KillSwitchState, when set, gives the kill switch as last measured in
	// the kernel ("armed", "broken", "unknown", "off") for every report.
	KillSwitchState func() killswitch.State
	// PortForward, when set, gives the forwarded port's state for every
	// report (ok false: forwarding off).
	PortForward func() (st portfwd.State, ok bool)
	// Suspicious is the engine's policy for suspicious files (the same as
	// client.Options.Suspicious). Under any other than pause, a torrent
	// resumed from --data that a run with pause held is resumed: this
	// command line is the user's decision.
	Suspicious client.SuspectPolicy
	Out        io.Writer
	Interval   time.Duration // report interval, default 1s
}

// Line is one JSON progress record.
type Line struct {
	Name           string  `json:"name"`
	InfoHash       string  `json:"info_hash"`
	State          string  `json:"state"`
	BytesCompleted int64   `json:"bytes_completed"` // verified
	BytesUnchecked int64   `json:"bytes_unchecked"` // received, being verified
	Length         int64   `json:"length"`
	DownloadRate   int64   `json:"download_rate"`
	UploadRate     int64   `json:"upload_rate"`
	Peers          int     `json:"peers"`
	ETASeconds     int64   `json:"eta_seconds"`
	Ratio          float64 `json:"ratio"`
	Finished       bool    `json:"finished,omitempty"` // stopped at its seeding goal
	Error          string  `json:"error,omitempty"`
	TunnelState    string  `json:"tunnel_state"`
	// TunnelServer is the VPN server's config file in use, TunnelEndpoint
	// the address the tunnel sends to; TunnelMoves counts failovers to
	// another server.
	TunnelServer   string `json:"tunnel_server"`
	TunnelEndpoint string `json:"tunnel_endpoint"`
	TunnelMoves    uint64 `json:"tunnel_moves"`
	// Isolation: "namespace" (private network namespace) or "host".
	Isolation string `json:"isolation"`
	// TunnelWarnings are what the WireGuard config keeps the tunnel from
	// reaching (vpn.Status.Warnings).
	TunnelWarnings []string `json:"tunnel_warnings,omitempty"`
	KillSwitch     string   `json:"killswitch"`
	// PortForward is the forwarded port, as the VPN's gateway last
	// answered (absent when forwarding is off).
	PortForward *portfwd.State `json:"port_forward,omitempty"`
	Trackers    []TrackerLine  `json:"trackers,omitempty"`
	// Warnings are its files that are not what their names say
	// (client.Stats.Warnings); Held, why the engine paused it for them.
	Warnings []client.Warning `json:"warnings,omitempty"`
	Held     string           `json:"held,omitempty"`
}

// TrackerLine is what a tracker last answered.
type TrackerLine struct {
	// Tracker is scheme://host:port, never the URL: it may hold a passkey.
	Tracker      string `json:"tracker"`
	Tier         int    `json:"tier"`
	Status       string `json:"status"`
	Error        string `json:"error,omitempty"` // the tracker's words, or why it was not reached
	Warning      string `json:"warning,omitempty"`
	Peers        int    `json:"peers"`         // in its last answer
	Seeders      int    `json:"seeders"`       // -1: unknown
	Leechers     int    `json:"leechers"`      // -1: unknown
	LastAnnounce int64  `json:"last_announce"` // Unix seconds, 0: never
	NextAnnounce int64  `json:"next_announce"` // Unix seconds, 0: none scheduled
}

// Run adds every source and reports until done. It returns nil when all
// torrents are complete (and seeding, if asked, reached its limit), an
// ErrInput error for bad sources, or the first torrent error.
func Run(ctx context.Context, eng client.Controller, tun Tunnel, o Options) error {
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if len(o.Sources) == 0 {
		return fmt.Errorf("%w: nothing to download: give --magnet, --torrent or an info hash", ErrInput)
	}
	// The engine keeps and enforces the goal; Run waits for it.
	o.Add.SeedGoal = client.SeedGoal{RatioMode: client.GoalNone, IdleMode: client.GoalNone}
	if o.Seed && o.SeedRatio > 0 {
		o.Add.SeedGoal.RatioMode, o.Add.SeedGoal.Ratio = client.GoalOwn, o.SeedRatio
	}
	var ids []client.TorrentID
	for _, src := range o.Sources {
		id, err := eng.Add(ctx, src, o.Add)
		var dup *client.DuplicateError
		if errors.As(err, &dup) {
			// Already there (resumed): this run's goal holds, and its
			// policy for suspicious files.
			id, err = dup.ID, eng.SetSeedGoal(dup.ID, o.Add.SeedGoal)
			if err == nil {
				err = releaseHeld(eng, id, o.Suspicious)
			}
		}
		var in *client.InputError
		if errors.As(err, &in) {
			return fmt.Errorf("%w: %w", ErrInput, err)
		}
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}

	var r reporter = &jsonReporter{enc: json.NewEncoder(o.Out)}
	if o.Terminal && !o.JSON {
		r = newBarReporter(o.Out)
	}
	defer r.close()

	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	var seedingSince time.Time
	for {
		ks := o.KillSwitch
		if o.KillSwitchState != nil {
			ks = o.KillSwitchState()
		}
		lines, err := snapshot(eng, tun, ids, ks)
		if err != nil {
			return err
		}
		if o.PortForward != nil {
			if st, ok := o.PortForward(); ok {
				for i := range lines {
					lines[i].PortForward = &st
				}
			}
		}
		if err := r.report(lines); err != nil {
			// Nobody reads the progress any more (`| head` ended).
			return fmt.Errorf("headless: write progress: %w", err)
		}
		if msg := firstError(lines); msg != "" {
			return errors.New(msg)
		}
		if msg := firstHeld(lines); msg != "" {
			return errors.New(msg)
		}
		if allComplete(lines) {
			if !o.Seed {
				return nil
			}
			if seedingSince.IsZero() {
				seedingSince = time.Now()
			}
			if seedLimitReached(lines, o, time.Since(seedingSince)) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func snapshot(eng client.Controller, tun Tunnel, ids []client.TorrentID, ks killswitch.State) ([]Line, error) {
	tst := tun.Status()
	tunnelState := string(tst.State)
	lines := make([]Line, 0, len(ids))
	for _, id := range ids {
		st, err := eng.Get(id)
		if err != nil {
			return nil, err
		}
		trs, err := eng.Trackers(id)
		if err != nil {
			return nil, err
		}
		eta := int64(-1)
		if st.ETA >= 0 {
			eta = int64(st.ETA.Seconds())
		}
		lines = append(lines, Line{
			Name:           st.Name,
			InfoHash:       string(st.ID),
			State:          string(st.State),
			BytesCompleted: st.BytesCompleted,
			BytesUnchecked: st.BytesUnchecked,
			Length:         st.Length,
			DownloadRate:   st.DownloadRate,
			UploadRate:     st.UploadRate,
			Peers:          st.PeersConnected,
			ETASeconds:     eta,
			Ratio:          st.Ratio,
			Finished:       st.Finished,
			Error:          st.Error,
			TunnelState:    tunnelState,
			TunnelServer:   tst.Server,
			TunnelEndpoint: tst.Endpoint,
			TunnelMoves:    tst.Moves,
			TunnelWarnings: tst.Warnings,
			Isolation:      tst.Isolation,
			KillSwitch:     string(ks),
			Trackers:       trackerLines(trs),
			Warnings:       st.Warnings,
			Held:           st.Held,
		})
	}
	return lines, nil
}

func trackerLines(trs []client.Tracker) []TrackerLine {
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	}
	var out []TrackerLine
	for _, tr := range trs {
		out = append(out, TrackerLine{
			Tracker: client.TrackerHost(tr.URL), Tier: tr.Tier, Status: string(tr.Status),
			Error: tr.Err, Warning: tr.Warning, Peers: tr.Peers, Seeders: tr.Seeders, Leechers: tr.Leechers,
			LastAnnounce: unix(tr.LastAnnounce), NextAnnounce: unix(tr.NextAnnounce),
		})
	}
	return out
}

// releaseHeld resumes a torrent an earlier run held for its suspicious
// files (--suspicious pause) when this run's policy is another.
func releaseHeld(eng client.Controller, id client.TorrentID, policy client.SuspectPolicy) error {
	if policy == client.SuspectPause {
		return nil
	}
	st, err := eng.Get(id)
	if err != nil || st.Held == "" {
		return err
	}
	return eng.Resume(id)
}

// firstHeld: a run cannot ask what to do with suspicious files, so a
// torrent held for them ends it.
func firstHeld(lines []Line) string {
	for _, l := range lines {
		if l.Held != "" {
			return fmt.Sprintf("%s: %s; nothing more is downloaded. Run again with --suspicious warn to download them anyway, or --suspicious skip to leave them out (verified data is kept)", name(l), l.Held)
		}
	}
	return ""
}

func firstError(lines []Line) string {
	for _, l := range lines {
		if l.State == string(client.StateError) {
			return fmt.Sprintf("%s: %s (the torrent is paused; fix the cause and run again: verified data is kept)", l.Name, l.Error)
		}
	}
	return ""
}

func allComplete(lines []Line) bool {
	for _, l := range lines {
		if !done(l) {
			return false
		}
	}
	return true
}

// done: every wanted byte is verified. Files left out (--suspicious skip)
// are not wanted: the engine then says seeding, or finished at its goal.
func done(l Line) bool {
	return l.Length > 0 && (l.BytesCompleted >= l.Length || l.State == string(client.StateSeeding) || l.Finished)
}

func seedLimitReached(lines []Line, o Options, seeded time.Duration) bool {
	if o.SeedTime > 0 && seeded >= o.SeedTime {
		return true
	}
	if o.SeedRatio <= 0 {
		return false
	}
	for _, l := range lines {
		if !l.Finished {
			return false
		}
	}
	return true
}

type reporter interface {
	report([]Line) error
	close()
}

type jsonReporter struct{ enc *json.Encoder }

func (j *jsonReporter) report(lines []Line) error {
	for _, l := range lines {
		if err := j.enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}

func (j *jsonReporter) close() {}
