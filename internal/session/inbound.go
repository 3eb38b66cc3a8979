package session

import (
	"log/slog"
	"net/netip"
	"slices"

	"github.com/wgtorrent/wgtorrent/internal/sockdiag"
	"github.com/wgtorrent/wgtorrent/killswitch"
)

// Sockets lists the sockets that accept from anyone (sockdiag.Conn, in
// the tunnel's namespace).
type Sockets interface {
	Bound(sockdiag.Proto) ([]netip.AddrPort, error)
	Close() error
}

// openSockets opens the lister in the calling thread's namespace; without
// one the kill switch admits no inbound connection at all (replies only).
func openSockets(log *slog.Logger) Sockets {
	c, err := sockdiag.Open()
	if err != nil {
		log.Warn("cannot list sockets: peers will not be able to connect in through the tunnel", "err", err)
		return nil
	}
	return c
}

// inboundPorts are the ports peers may connect to through the tunnel: TCP
// listeners bound to a tunnel address itself (a socket on every address,
// such as sshd's, is not the engine's), and UDP on those ports too (uTP,
// and the DHT when it shares the port). UDP sockets alone are not
// counted: each UDP tracker announce opens one. Sorted, once each.
func inboundPorts(tcp, udp []netip.AddrPort, addrs []netip.Prefix) (tcpPorts, udpPorts []uint16) {
	on := func(ap netip.AddrPort) bool {
		for _, p := range addrs {
			if p.Addr() == ap.Addr() {
				return true
			}
		}
		return false
	}
	for _, ap := range tcp {
		if on(ap) {
			tcpPorts = append(tcpPorts, ap.Port())
		}
	}
	slices.Sort(tcpPorts)
	tcpPorts = slices.Compact(tcpPorts)
	for _, ap := range udp {
		if on(ap) && slices.Contains(tcpPorts, ap.Port()) {
			udpPorts = append(udpPorts, ap.Port())
		}
	}
	slices.Sort(udpPorts)
	return tcpPorts, slices.Compact(udpPorts)
}

// admitInbound opens the kill switch to the ports the engine listens on
// in the tunnel, as the kernel lists them, and closes it to those it left
// (a re-listen on a forwarded port). Run by the guard, s.ksMu held.
func (s *Session) admitInbound() {
	if s.sockets == nil || s.Mode == killswitch.ModeOff {
		return
	}
	tcpB, err := s.sockets.Bound(sockdiag.TCP)
	if err != nil {
		s.log.Warn("cannot list the engine's listeners; inbound admission unchanged", "err", err)
		return
	}
	udpB, err := s.sockets.Bound(sockdiag.UDP)
	if err != nil {
		s.log.Warn("cannot list the engine's listeners; inbound admission unchanged", "err", err)
		return
	}
	// The addresses the tunnel has now: a move may have changed them.
	tcp, udp := inboundPorts(tcpB, udpB, s.spec.TunnelAddresses)
	if slices.Equal(tcp, s.spec.InboundTCP) && slices.Equal(udp, s.spec.InboundUDP) {
		return
	}
	spec := s.spec
	spec.InboundTCP, spec.InboundUDP = tcp, udp
	// One transaction replaces the table: no moment without it.
	if err := s.applyLocked(spec); err != nil {
		s.log.Error("kill switch: admitting the engine's ports", "err", err)
		return
	}
	s.log.Info("kill switch: peers may connect through the tunnel to these ports only", "tcp", tcp, "udp", udp)
}

func (s *Session) closeSockets() {
	if s.sockets != nil {
		s.sockets.Close()
		s.sockets = nil
	}
}
