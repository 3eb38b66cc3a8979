package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mattn/go-isatty"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/session"
	"github.com/wgtorrent/wgtorrent/tui"
)

type tuiCmd struct {
	tunnelFlags
	engineFlags
	Sources []string `arg:"" optional:"" help:"Magnet links, .torrent files or info hashes to add on start."`
	LogFile string   `help:"Where the log goes while the TUI owns the terminal (default: DATA/wgtorrent.log)." type:"path"`
	Mouse   bool     `help:"Capture the mouse for the wheel (then the terminal no longer selects text)."`
}

// isolation: on a host the TUI's engine gets a namespace of its own.
func (c *tuiCmd) isolation() session.Isolation { return c.resolve(session.IsolationNamespace) }

func (c *tuiCmd) Run(ctx context.Context, ls logSettings) error {
	return runTUI(ctx, ls, c.tunnelFlags, c.engineFlags, c.Sources, c.LogFile, c.Mouse)
}

// runTUI runs the interactive front end. The log moves to a file: the TUI
// owns the terminal.
func runTUI(ctx context.Context, ls logSettings, tf tunnelFlags, ef engineFlags, sources []string, logFile string, mouse bool) error {
	if !isatty.IsTerminal(os.Stdout.Fd()) {
		return fmt.Errorf("the TUI needs a terminal: give --magnet/--torrent for a headless download, or use `wgtorrent daemon`")
	}
	add, err := parseSources(sources)
	if err != nil {
		return fmt.Errorf("%w: %w", errInput, err)
	}
	if err := os.MkdirAll(ef.Data, 0o700); err != nil {
		return err
	}
	if logFile == "" {
		logFile = filepath.Join(ef.Data, "wgtorrent.log")
	}
	if err := os.MkdirAll(filepath.Dir(logFile), 0o700); err != nil {
		return fmt.Errorf("log file directory: %w", err)
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(os.Stderr, "wgtorrent: bringing up the kill switch and the tunnel (log: %s)\n", logFile)
	log := newLogger(f, ls.Level, ls.Format)
	slog.SetDefault(log)
	defer fmt.Fprintln(os.Stderr, "wgtorrent: stopped")
	return withEngine(ctx, log, tf, ef, func(ctx context.Context, s *session.Session, eng *client.Restartable) error {
		// The teardown (trackers told, state saved, tunnel down, kill
		// switch off) takes seconds: say so instead of leaving the start's
		// line on the screen.
		defer fmt.Fprintln(os.Stderr, "wgtorrent: stopping: telling the trackers, saving state, bringing the tunnel down…")
		return tui.Run(ctx, eng, s.Tunnel, tui.Options{
			KillSwitch:      s.KillSwitchState(),
			KillSwitchState: s.KillSwitchState,
			Add:             add,
			DownloadDir:     ef.Out,
			SpeedsFile:      filepath.Join(ef.Data, "tui-speeds.json"),
			Mouse:           mouse,
			PortForward:     s.PortForward,
		})
	})
}
