package rpc

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

var allStates = []client.State{
	client.StateMetadata, client.StateChecking, client.StateDownloading, client.StateStalled,
	client.StateSeeding, client.StatePaused, client.StateError,
}

var tunnelStates = []vpn.State{vpn.StateConnecting, vpn.StateUp, vpn.StateStale, vpn.StateDown}

var (
	descTorrents   = prometheus.NewDesc("wgtorrent_torrents", "Torrents by state.", []string{"state"}, nil)
	descDownloaded = prometheus.NewDesc("wgtorrent_torrent_downloaded_bytes", "Payload downloaded by the torrents now in the engine (drops when one is removed).", nil, nil)
	descUploaded   = prometheus.NewDesc("wgtorrent_torrent_uploaded_bytes", "Payload uploaded by the torrents now in the engine (drops when one is removed).", nil, nil)
	descPeers      = prometheus.NewDesc("wgtorrent_peers_connected", "Connected peers over all torrents.", nil, nil)
	descDownRate   = prometheus.NewDesc("wgtorrent_download_rate_bytes_per_second", "Download rate over all torrents.", nil, nil)
	descUpRate     = prometheus.NewDesc("wgtorrent_upload_rate_bytes_per_second", "Upload rate over all torrents.", nil, nil)
	descTunnelRx   = prometheus.NewDesc("wgtorrent_tunnel_received_bytes_total", "Bytes received through the WireGuard tunnel.", nil, nil)
	descTunnelTx   = prometheus.NewDesc("wgtorrent_tunnel_sent_bytes_total", "Bytes sent through the WireGuard tunnel.", nil, nil)
	descHandshake  = prometheus.NewDesc("wgtorrent_tunnel_handshake_age_seconds", "Seconds since the last WireGuard handshake (0: none yet).", nil, nil)
	descTunnelSt   = prometheus.NewDesc("wgtorrent_tunnel_state", "1 for the tunnel's current state.", []string{"state"}, nil)
	descServer     = prometheus.NewDesc("wgtorrent_tunnel_server", "1 for the VPN server (config file) in use.", []string{"server", "endpoint"}, nil)
	descMoves      = prometheus.NewDesc("wgtorrent_tunnel_failovers_total", "Moves to another VPN server (failover).", nil, nil)
	descHealthy    = prometheus.NewDesc("wgtorrent_healthy", "1 when the tunnel is up and the kill switch armed (as /healthz).", nil, nil)
	descDrops      = prometheus.NewDesc("wgtorrent_killswitch_dropped_packets_total", "Packets the kill switch dropped.", nil, nil)
	descKSState    = prometheus.NewDesc("wgtorrent_killswitch_state", "1 for the kill switch state last measured in the kernel (armed, broken, unknown, off).", []string{"state"}, nil)
	descKSRestored = prometheus.NewDesc("wgtorrent_killswitch_restored_total", "Times the kill switch was found missing or changed under the running process and put back.", nil, nil)
	descFwdPort    = prometheus.NewDesc("wgtorrent_port_forwarded", "The port the VPN's gateway forwards, while it says so (0: requesting or failed).", nil, nil)
	descRtRestored = prometheus.NewDesc("wgtorrent_routing_restored_total", "Times the tunnel's ip rules or routes were found missing and put back.", nil, nil)
)

// collector reads everything at scrape time, so no goroutine keeps gauges
// up to date.
type collector struct{ s *Server }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTorrents, descDownloaded, descUploaded, descPeers, descDownRate, descUpRate, descHealthy} {
		ch <- d
	}
	if c.s.o.Tunnel != nil {
		ch <- descTunnelRx
		ch <- descTunnelTx
		ch <- descHandshake
		ch <- descTunnelSt
		ch <- descServer
		ch <- descMoves
	}
	if c.s.o.KillSwitchDrops != nil {
		ch <- descDrops
	}
	if c.s.o.PortForward != nil {
		ch <- descFwdPort
	}
	if c.s.o.KillSwitch != nil {
		ch <- descKSState
		ch <- descKSRestored
		ch <- descRtRestored
	}
}

var killSwitchStates = []killswitch.State{killswitch.StateArmed, killswitch.StateBroken, killswitch.StateUnknown, killswitch.StateOff}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counts := map[client.State]int{}
	var down, up, downRate, upRate int64
	var peers int
	for _, t := range s.engine.List() {
		counts[t.State]++
		down += t.Downloaded
		up += t.Uploaded
		downRate += t.DownloadRate
		upRate += t.UploadRate
		peers += t.PeersConnected
	}
	for _, st := range allStates {
		ch <- prometheus.MustNewConstMetric(descTorrents, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(descDownloaded, prometheus.GaugeValue, float64(down))
	ch <- prometheus.MustNewConstMetric(descUploaded, prometheus.GaugeValue, float64(up))
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(peers))
	ch <- prometheus.MustNewConstMetric(descDownRate, prometheus.GaugeValue, float64(downRate))
	ch <- prometheus.MustNewConstMetric(descUpRate, prometheus.GaugeValue, float64(upRate))
	healthy := 0.0
	if s.health != nil {
		if ok, _ := s.health.Healthy(); ok {
			healthy = 1
		}
	}
	ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, healthy)
	if s.o.Tunnel != nil {
		ts := s.o.Tunnel()
		ch <- prometheus.MustNewConstMetric(descTunnelRx, prometheus.CounterValue, float64(ts.RxBytes))
		ch <- prometheus.MustNewConstMetric(descTunnelTx, prometheus.CounterValue, float64(ts.TxBytes))
		ch <- prometheus.MustNewConstMetric(descHandshake, prometheus.GaugeValue, ts.HandshakeAge(s.o.Now()).Seconds())
		for _, st := range tunnelStates {
			v := 0.0
			if ts.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descTunnelSt, prometheus.GaugeValue, v, string(st))
		}
		ch <- prometheus.MustNewConstMetric(descServer, prometheus.GaugeValue, 1, ts.Server, ts.Endpoint)
		ch <- prometheus.MustNewConstMetric(descMoves, prometheus.CounterValue, float64(ts.Moves))
	}
	if s.o.KillSwitchDrops != nil {
		ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(s.o.KillSwitchDrops()))
	}
	if s.o.PortForward != nil {
		if st, ok := s.o.PortForward(); ok {
			port := 0.0
			if st.Phase == portfwd.Mapped {
				port = float64(st.Port)
			}
			ch <- prometheus.MustNewConstMetric(descFwdPort, prometheus.GaugeValue, port)
		}
	}
	if s.o.KillSwitch != nil {
		state, ks, rt := s.o.KillSwitch()
		for _, st := range killSwitchStates {
			v := 0.0
			if st == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descKSState, prometheus.GaugeValue, v, string(st))
		}
		ch <- prometheus.MustNewConstMetric(descKSRestored, prometheus.CounterValue, float64(ks))
		ch <- prometheus.MustNewConstMetric(descRtRestored, prometheus.CounterValue, float64(rt))
	}
}

func (s *Server) registerMetrics() error {
	reg := s.o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s.registry = reg
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wgtorrent_rpc_requests_total",
		Help: "Transmission RPC requests by method and result.",
	}, []string{"method", "result"})
	for _, c := range []prometheus.Collector{collector{s}, s.requests} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("rpc: register metrics: %w", err)
		}
	}
	return nil
}

// countRequest labels unknown methods as such, so that clients cannot grow
// the label set.
func (s *Server) countRequest(method string, ok bool) {
	result := "success"
	if !ok {
		result = "error"
	}
	s.requests.WithLabelValues(method, result).Inc()
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Timeout: 10 * time.Second})
}
