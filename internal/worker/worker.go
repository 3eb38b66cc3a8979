// Package worker runs the torrent engine and the RPC in a process of their
// own, as an unprivileged user, while the process that started it keeps
// what needs privileges: the tunnel and the kill switch.
//
// What it promises:
//   - The worker holds no capabilities: it runs as the user that owns the
//     daemon's files (or root with an empty bounding set when that user is
//     root), with no_new_privs, and it refuses to run if the kernel says it
//     still holds any capability. A caller who drives the RPC gets at most
//     that user's rights, whatever the engine or the RPC do.
//   - The worker's sockets are bound to the tunnel device like the engine's
//     always are (SO_BINDTODEVICE needs no privilege since Linux 5.7). In
//     namespace mode the worker starts inside the tunnel's private network
//     namespace, and the RPC's listener and a sock_diag socket are made by
//     the parent on the host and handed down (RPCListenerFD, SockDiagFD).
//   - The parent tells the worker what it measured (tunnel status, kill
//     switch) once a second, and at once when the tunnel was rebuilt; the
//     worker stops when the parent goes away (end of its input).
//
// The protocol is JSON lines on one pipe, parent to worker: a Config, then
// Reports.
package worker

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// Config is everything the worker needs to run the engine and the RPC.
type Config struct {
	// Engine: the client.Options that survive a process boundary.
	Interface       string
	IPv4, IPv6      netip.Addr
	DNS             []netip.Addr
	DataDir         string
	DownloadDir     string
	ListenPort      int
	DHT             bool
	UTP             bool // the worker starts in the tunnel's private namespace
	DHTBootstrap    []string
	Encryption      string
	Suspicious      string // client.SuspectPolicy
	MaxDownloadRate int64
	MaxUploadRate   int64

	// Daemon and RPC.
	RPCListen   string
	WatchDir    string
	RPCUsername string
	RPCPassword string
	RPCHosts    []string
	RPCPaths    []string
	WebUI       string
	// Port forwarding (NAT-PMP through the tunnel, internal/portfwd).
	PortForward        bool
	PortForwardGateway netip.Addr
	Version            string
	ConfigDir          string
	KillSwitchOff      bool // the user turned it off: /healthz says so
}

// Report is what the parent measured.
type Report struct {
	Tunnel vpn.Status `json:"tunnel"`
	// LastHandshake travels as nanoseconds: vpn.Status keeps only seconds
	// in JSON.
	LastHandshakeNanos int64 `json:"last_handshake_nanos"`
	KillSwitchArmed    bool  `json:"killswitch_armed"`
	// KillSwitchState is the measured state as the front ends show it,
	// with how often the parent had to put the kill switch and the routing
	// back.
	KillSwitchState    killswitch.State `json:"killswitch_state"`
	KillSwitchRestores uint64           `json:"killswitch_restores"`
	RoutingRestores    uint64           `json:"routing_restores"`
	// KillSwitchError is why the kill switch's state could not be read.
	KillSwitchError string `json:"killswitch_error,omitempty"`
	KillSwitchDrops uint64 `json:"killswitch_drops"`
	// Rebuilt: the tunnel's interface was made anew; sockets bound to the
	// old one are dead.
	Rebuilt bool `json:"rebuilt,omitempty"`
}

// NewReport fills a Report from a tunnel status.
func NewReport(st vpn.Status) Report {
	r := Report{Tunnel: st}
	if !st.LastHandshake.IsZero() {
		r.LastHandshakeNanos = st.LastHandshake.UnixNano()
	}
	return r
}

// Status is the tunnel status with its handshake time restored.
func (r Report) Status() vpn.Status {
	st := r.Tunnel
	if r.LastHandshakeNanos != 0 {
		st.LastHandshake = time.Unix(0, r.LastHandshakeNanos)
	}
	return st
}

// Writer encodes the protocol.
type Writer struct{ enc *json.Encoder }

func NewWriter(w io.Writer) *Writer { return &Writer{enc: json.NewEncoder(w)} }

func (w *Writer) Config(c Config) error {
	if err := w.enc.Encode(c); err != nil {
		return fmt.Errorf("worker: send config: %w", err)
	}
	return nil
}

func (w *Writer) Report(r Report) error {
	if err := w.enc.Encode(r); err != nil {
		return fmt.Errorf("worker: send report: %w", err)
	}
	return nil
}

// Reader decodes the protocol.
type Reader struct{ dec *json.Decoder }

func NewReader(r io.Reader) *Reader { return &Reader{dec: json.NewDecoder(bufio.NewReader(r))} }

func (r *Reader) Config() (Config, error) {
	var c Config
	if err := r.dec.Decode(&c); err != nil {
		return c, fmt.Errorf("worker: read config: %w", err)
	}
	return c, nil
}

// Report returns the next report, or io.EOF once the parent is gone.
func (r *Reader) Report() (Report, error) {
	var rep Report
	err := r.dec.Decode(&rep)
	return rep, err
}

// ErrPrivileged means the worker found itself holding capabilities.
var ErrPrivileged = errors.New("worker: still holds capabilities")

// CheckUnprivileged reads the process's capability sets from the kernel
// (/proc/self/status) and fails unless every one is empty.
func CheckUnprivileged() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("worker: read own status: %w", err)
	}
	return checkCaps(string(b))
}

func checkCaps(status string) error {
	seen := 0
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "CapInh", "CapPrm", "CapEff", "CapAmb":
			seen++
			if strings.Trim(strings.TrimSpace(v), "0") != "" {
				return fmt.Errorf("%w: %s %s", ErrPrivileged, k, strings.TrimSpace(v))
			}
		}
	}
	if seen < 3 {
		return errors.New("worker: the kernel did not report the capability sets")
	}
	return nil
}
