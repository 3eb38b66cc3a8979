package portfwd

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/natpmp"
)

// Engine is what a forwarded port is applied to (client.Restartable).
type Engine interface {
	ListenPort() int  // 0: not listening yet
	ForwardPort() int // listened on, or to be
	Relisten(ctx context.Context, port int) error
}

// tunnelMapper asks the gateway from a fresh socket inside the tunnel, on
// its current address, for every request: a socket pinned to a tunnel
// interface that was rebuilt or readdressed since would be dead.
type tunnelMapper struct {
	b  func() client.Binding
	gw netip.AddrPort
}

func (m tunnelMapper) Map(ctx context.Context, p natpmp.Protocol, internal, external uint16, lifetime time.Duration) (natpmp.Mapping, error) {
	conn, err := m.b().ListenUDP4()
	if err != nil {
		return natpmp.Mapping{}, err
	}
	defer conn.Close()
	return natpmp.New(conn, m.gw).Map(ctx, p, internal, external, lifetime)
}

// Start forwards a port from the NAT-PMP gateway (given, else the first
// IPv4 address in dns), asked through the tunnel b returns (as it is at
// each request), to eng; stop releases the mappings and returns once they
// are.
func Start(eng Engine, b func() client.Binding, given netip.Addr, dns []netip.Addr, log *slog.Logger) (f *Forwarder, stop func(), err error) {
	gateway, err := pickGateway(given, dns)
	if err != nil {
		return nil, nil, err
	}
	if !gateway.Is4() {
		return nil, nil, errors.New("portfwd: NAT-PMP needs the gateway's IPv4 address (--port-forward-gateway)")
	}
	if !b().IPv4.IsValid() {
		return nil, nil, errors.New("portfwd: NAT-PMP needs an IPv4 address in the tunnel")
	}
	ctx, cancel := context.WithCancel(context.Background())
	f = New(Options{
		Mapper:       tunnelMapper{b: b, gw: netip.AddrPortFrom(gateway, natpmp.Port)},
		Port:         uint16(eng.ForwardPort()),
		NotListening: eng.ListenPort() == 0,
		Listen:       func(port uint16) error { return eng.Relisten(ctx, int(port)) },
		Logger:       log,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	log.Info("port forwarding: asking the VPN's gateway (NAT-PMP)", "gateway", gateway)
	return f, func() {
		cancel()
		<-done
	}, nil
}

// pickGateway is the NAT-PMP gateway to ask: given, else the config's
// first IPv4 DNS server (ProtonVPN's gateway is also its resolver,
// 10.2.0.1).
func pickGateway(given netip.Addr, dns []netip.Addr) (netip.Addr, error) {
	if given.IsValid() {
		return given, nil
	}
	for _, d := range dns {
		if d.Is4() {
			return d, nil
		}
	}
	return netip.Addr{}, errors.New("portfwd: no gateway: give --port-forward-gateway (the config has no IPv4 DNS server to take it from)")
}
