package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/daemon"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/internal/rpc"
	"github.com/wgtorrent/wgtorrent/internal/session"
	"github.com/wgtorrent/wgtorrent/internal/sockdiag"
	"github.com/wgtorrent/wgtorrent/internal/worker"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// daemonWorkerCmd is the daemon's unprivileged half: the engine and the
// RPC, started by `wgtorrent daemon` (never by hand) with the protocol on
// fd 3.
type daemonWorkerCmd struct{}

func (daemonWorkerCmd) Run(ctx context.Context, log *slog.Logger) error {
	input := worker.Input()
	if err := worker.CheckUnprivileged(); err != nil {
		return fmt.Errorf("refusing to run the engine: %w", err)
	}
	lf, df := worker.Inherited(worker.RPCListenerFD, "rpc-listener"), worker.Inherited(worker.SockDiagFD, "sock_diag")
	if lf == nil || df == nil {
		return errors.New("worker: the RPC's listener and sock_diag socket were not handed down (started by hand?)")
	}
	rpcListener, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return fmt.Errorf("worker: RPC listener: %w", err)
	}
	defer rpcListener.Close()
	diag := sockdiag.FromFile(df)
	defer diag.Close()
	in := worker.NewReader(input)
	cfg, err := in.Config()
	if err != nil {
		return err
	}
	first, err := in.Report()
	if err != nil {
		return fmt.Errorf("worker: first report: %w", err)
	}
	var latest atomic.Pointer[worker.Report]
	latest.Store(&first)
	for _, d := range []string{cfg.DataDir, cfg.DownloadDir} {
		if err := client.CheckWritableDir(d); err != nil {
			return fmt.Errorf("%w: as uid %d: %w", errInput, os.Geteuid(), err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// orphaned: the parent died (a clean stop signals us first and waits),
	// and the tunnel, which it held, with it.
	var orphaned atomic.Bool
	var fwd atomic.Pointer[portfwd.Forwarder]
	rebuilt := make(chan struct{}, 1)
	back := make(chan time.Time, 1) // the tunnel is back after an outage: when it was last up
	go func() {
		var watch vpn.ReturnWatch
		for {
			r, err := in.Report()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					log.Error("worker: reading the parent's reports", "err", err)
				}
				if ctx.Err() == nil {
					// Save the state and go, at once: a new daemon may be
					// starting on the same files.
					log.Warn("worker: the daemon's main process is gone, and the tunnel with it: saving state and exiting without telling trackers")
					orphaned.Store(true)
					if f := fwd.Load(); f != nil {
						f.Offline()
					}
					cancel()
				}
				return
			}
			latest.Store(&r)
			if lastUp, ok := watch.Observe(r.Status().State, time.Now()); ok {
				select {
				case back <- lastUp:
				default:
				}
			}
			if r.Rebuilt {
				select {
				case rebuilt <- struct{}{}:
				default:
				}
			}
		}
	}()

	// The tunnel as the latest report shows it: a move to another server
	// may have given it other addresses.
	binding := func() client.Binding {
		b := client.Binding{Interface: cfg.Interface, IPv4: cfg.IPv4, IPv6: cfg.IPv6, DNS: cfg.DNS}
		var prefixes []netip.Prefix
		for _, a := range latest.Load().Status().Addresses {
			if p, err := netip.ParsePrefix(a); err == nil {
				prefixes = append(prefixes, p)
			}
		}
		if len(prefixes) > 0 {
			b.SetAddresses(prefixes)
		}
		return b
	}
	eng, err := client.NewRestartable(ctx, client.Options{
		Binding:         binding(),
		DataDir:         cfg.DataDir,
		DownloadDir:     cfg.DownloadDir,
		ListenPort:      cfg.ListenPort,
		NoListen:        cfg.PortForward, // until the VPN forwards a port
		DHT:             cfg.DHT,
		UTP:             cfg.UTP,
		DHTBootstrap:    cfg.DHTBootstrap,
		Seed:            true,
		Encryption:      client.Encryption(cfg.Encryption),
		Suspicious:      client.SuspectPolicy(cfg.Suspicious),
		MaxDownloadRate: cfg.MaxDownloadRate,
		MaxUploadRate:   cfg.MaxUploadRate,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if orphaned.Load() {
			eng.CloseOffline()
		} else {
			eng.Close()
		}
	}()
	// The port forwarder, once started, asks again when the tunnel is back.
	nudge := func() {
		if f := fwd.Load(); f != nil {
			f.Nudge()
		}
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-rebuilt:
				if err := eng.Rebind(context.Background(), binding()); err != nil {
					log.Error("restarting the engine on the rebuilt tunnel", "err", err)
				}
				nudge()
			case lastUp := <-back:
				eng.TunnelBack(lastUp)
				nudge()
			}
		}
	}()

	fwdState := func() (portfwd.State, bool) { return portfwd.State{}, false }
	if cfg.PortForward {
		f, stop, err := portfwd.Start(eng, binding, cfg.PortForwardGateway, cfg.DNS, log.With("part", "portfwd"))
		if err != nil {
			return err
		}
		// Released before the engine closes (deferred earlier, runs later).
		defer stop()
		fwd.Store(f)
		if orphaned.Load() {
			f.Offline()
		}
		fwdState = func() (portfwd.State, bool) { return f.State(), true }
	}

	tunnel := func() vpn.Status { return latest.Load().Status() }
	health := daemon.Health{
		Tunnel: tunnel,
		KillSwitch: func() (bool, error) {
			r := latest.Load()
			if r.KillSwitchError != "" {
				return false, errors.New(r.KillSwitchError)
			}
			return r.KillSwitchArmed, nil
		},
	}
	return daemon.Run(ctx, eng, health, daemon.Options{
		Listen:   cfg.RPCListen,
		Listener: rpcListener,
		WatchDir: cfg.WatchDir,
		Logger:   log,
		RPC: rpc.Options{
			DataDir:         filepath.Join(cfg.DataDir, "rpc"),
			DownloadDir:     cfg.DownloadDir,
			Username:        cfg.RPCUsername,
			Password:        cfg.RPCPassword,
			AllowedHosts:    cfg.RPCHosts,
			WebUI:           cfg.WebUI,
			Version:         cfg.Version,
			ConfigDir:       cfg.ConfigDir,
			PeerPort:        eng.ListenPort,
			PortForward:     fwdState,
			DHT:             cfg.DHT,
			UTP:             cfg.UTP,
			Encryption:      client.Encryption(cfg.Encryption),
			Tunnel:          tunnel,
			KillSwitchDrops: func() uint64 { return latest.Load().KillSwitchDrops },
			KillSwitch: func() (killswitch.State, uint64, uint64) {
				r := latest.Load()
				return r.KillSwitchState, r.KillSwitchRestores, r.RoutingRestores
			},
			PeerUID:       diag.UID,
			WritableRoots: cfg.RPCPaths,
			ReadableRoots: []string{cfg.WatchDir},
			Logger:        log,
		},
	})
}

// workerUser is who runs the engine and the RPC: --user, else the owner
// of the data directory. Only root may choose another user than itself.
func (c *daemonCmd) workerUser() (worker.User, error) {
	if c.User != "" {
		u, err := lookupUser(c.User)
		if err != nil {
			return worker.User{}, fmt.Errorf("%w: --user %q: %w", errInput, c.User, err)
		}
		if os.Geteuid() != 0 && u.UID != uint32(os.Geteuid()) {
			return worker.User{}, fmt.Errorf("%w: --user %q: only root can run the engine as another user", errInput, c.User)
		}
		return u, nil
	}
	fi, err := os.Stat(c.Data)
	if err != nil {
		return worker.User{}, fmt.Errorf("%w: --data: %w", errInput, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	u := worker.User{UID: st.Uid, GID: st.Gid}
	if os.Geteuid() != 0 {
		// Not root: the engine stays this user, whoever owns the files.
		u = worker.User{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	}
	return u, nil
}

func lookupUser(s string) (worker.User, error) {
	u, err := user.Lookup(s)
	if err != nil {
		if _, nerr := strconv.Atoi(s); nerr != nil {
			return worker.User{}, err
		}
		if u, err = user.LookupId(s); err != nil {
			// A bare uid with no passwd entry (containers): its own group.
			n, _ := strconv.Atoi(s)
			return worker.User{UID: uint32(n), GID: uint32(n)}, nil
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return worker.User{UID: uint32(uid), GID: uint32(gid)}, nil
}

// runWorker starts the worker as u and feeds it what the session
// measures until ctx ends (then it stops the worker) or the worker exits.
//
// The RPC's listener and the socket that tells who calls it are made
// here, in this process's network namespace, and handed down: in namespace
// mode the worker lives in the tunnel's private namespace, where nothing
// on the host could reach a listener, and the RPC stays on the host.
func runWorker(ctx context.Context, log *slog.Logger, ls logSettings, s *session.Session, u worker.User, cfg worker.Config) error {
	ln, err := net.Listen("tcp", cfg.RPCListen)
	if err != nil {
		return fmt.Errorf("listen for RPC on %s: %w", cfg.RPCListen, err)
	}
	lnFile, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return fmt.Errorf("RPC listener: %w", err)
	}
	defer lnFile.Close()
	diag, err := sockdiag.Open()
	if err != nil {
		return err
	}
	defer diag.Close()
	cmd, err := worker.NewCommand(u, []*os.File{lnFile, diag.File()},
		"--log-level", ls.Level.String(), "--log-format", ls.Format, "daemon-worker")
	if err != nil {
		return err
	}
	cmd.NetNS = s.NetNSFd()
	cfg.UTP = cmd.NetNS > 0 // anacrolix's own uTP socket can only leave by the tunnel there
	if err := cmd.Start(); err != nil {
		return err
	}
	lnFile.Close() // the worker's now: a restart of ours must not hold the port
	log.Info("engine and RPC started in their own process", "pid", cmd.Cmd.Process.Pid, "uid", u.UID, "gid", u.GID)
	if u.UID == 0 {
		log.Warn("the engine and the RPC run as root (without capabilities): give --user, or chown --data to the user who should own the downloads")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Cmd.Wait() }()
	defer cmd.Pipe.Close()

	report := func(rebuilt bool) worker.Report {
		r := worker.NewReport(s.Tunnel.Status())
		r.Rebuilt = rebuilt
		// Measured by the session's guard, not assumed.
		armed, err := s.KillSwitchArmed()
		r.KillSwitchArmed = armed
		if err != nil {
			r.KillSwitchError = err.Error()
		}
		r.KillSwitchState = s.KillSwitchState()
		r.KillSwitchRestores, r.RoutingRestores = s.Restores()
		if n, err := s.KillSwitchDrops(); err == nil {
			r.KillSwitchDrops = n
		}
		return r
	}
	w := worker.NewWriter(cmd.Pipe)
	if err := w.Config(cfg); err != nil {
		_ = cmd.Cmd.Process.Kill()
		<-exited
		return err
	}
	_ = w.Report(report(false))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("the engine's process stopped: %v", err)
		case <-ctx.Done():
			// SIGTERM: the worker flushes its state within the daemon's
			// 10 s, as the daemon did in one process.
			_ = cmd.Cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Cmd.Process.Kill()
				<-exited
			}
			s.FlushTunnel(time.Second)
			return nil
		case <-s.Tunnel.Rebuilt():
			_ = w.Report(report(true))
		case <-tick.C:
			// A write error means the worker is gone; its exit says why.
			_ = w.Report(report(false))
		}
	}
}
