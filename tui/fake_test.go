package tui

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/client/clienttest"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// epoch is the fake clock's reading; everything time-like in the goldens is
// relative to it.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fakeTunnel struct {
	mu sync.Mutex
	st vpn.Status
}

func (f *fakeTunnel) Status() vpn.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Addresses = slices.Clone(st.Addresses)
	return st
}

func (f *fakeTunnel) set(fn func(*vpn.Status)) {
	f.mu.Lock()
	fn(&f.st)
	f.mu.Unlock()
}

func newFakeTunnel() *fakeTunnel {
	return &fakeTunnel{st: vpn.Status{
		State:         vpn.StateUp,
		Interface:     "wgt0",
		Addresses:     []string{"10.66.0.2/32"},
		Endpoint:      "198.51.100.7:51820",
		LastHandshake: epoch.Add(-42 * time.Second),
		RxBytes:       10 << 20,
		TxBytes:       2 << 20,
	}}
}

func hash(c byte) client.TorrentID { return client.TorrentID(strings.Repeat(string(c), 40)) }

var (
	idUbuntu = hash('a')
	idBunny  = hash('b')
	idDebian = hash('c')
	idArch   = hash('d')
	idSintel = hash('e')
	idLinux  = hash('f')
	idTears  = hash('1')
)

// newFakeEngine returns an engine with seven torrents, one in each state;
// Big Buck Bunny has files, peers, trackers and pieces for the detail tabs.
func newFakeEngine() *clienttest.Fake {
	const gib, mib = 1 << 30, 1 << 20
	hoursAgo := func(h int) time.Time { return epoch.Add(-time.Duration(h) * time.Hour) }
	// 276 pieces, the first 60% done with a few gaps.
	pieces := client.Pieces{Count: 276, Bitmap: make([]byte, (276+7)/8)}
	for i := range 166 {
		if i%17 == 5 {
			continue
		}
		pieces.Bitmap[i/8] |= 0x80 >> (i % 8)
		pieces.Complete++
	}
	f := clienttest.New()
	f.Put(clienttest.Torrent{
		Stats: client.Stats{ID: idUbuntu, Name: "ubuntu-24.04-desktop-amd64.iso", State: client.StateSeeding, BytesCompleted: 5*gib + 800*mib,
			Length: 5*gib + 800*mib, UploadRate: 340 << 10, PeersConnected: 4, PeersKnown: 31, Uploaded: 9 * gib,
			Ratio: 1.55, ETA: -1, AddedAt: hoursAgo(30), DoneAt: hoursAgo(29), DownloadDir: "/srv/torrents"},
		Files: []client.File{{Index: 0, Path: "ubuntu-24.04-desktop-amd64.iso", Length: 5*gib + 800*mib, BytesCompleted: 5*gib + 800*mib}},
	})
	f.Put(clienttest.Torrent{
		Stats: client.Stats{ID: idBunny, Name: "Big Buck Bunny", State: client.StateDownloading, BytesCompleted: 165 * mib, Length: 276 * mib,
			DownloadRate: 2400 << 10, UploadRate: 96 << 10, PeersConnected: 12, PeersKnown: 87, Seeders: 9, Leechers: 3,
			Downloaded: 170 * mib, Uploaded: 20 * mib, Ratio: 0.07, ETA: 47 * time.Second, AddedAt: hoursAgo(1), DownloadDir: "/srv/torrents"},
		Files: []client.File{
			{Index: 0, Path: "Big Buck Bunny/Big Buck Bunny.mp4", Length: 263 * mib, BytesCompleted: 160 * mib},
			{Index: 1, Path: "Big Buck Bunny/poster.jpg", Length: 300 << 10, BytesCompleted: 300 << 10, Priority: client.PriorityHigh},
			{Index: 2, Path: "Big Buck Bunny/subs/en.srt", Length: 40 << 10, BytesCompleted: 40 << 10},
			{Index: 3, Path: "Big Buck Bunny/subs/de.srt", Length: 42 << 10, Priority: client.PriorityOff},
			{Index: 4, Path: "Big Buck Bunny/extras/making-of.mkv", Length: 12 * mib, BytesCompleted: 5 * mib},
		},
		Peers: []client.Peer{
			{Addr: netip.MustParseAddrPort("203.0.113.10:51413"), Client: "Transmission 4.0.5", Flags: "Tr", Network: "tcp4", DownRate: 900 << 10, UpRate: 40 << 10, Progress: 1},
			{Addr: netip.MustParseAddrPort("198.51.100.23:6881"), Client: "qBittorrent 4.6.4", Flags: "X", Network: "tcp4", DownRate: 1200 << 10, UpRate: 50 << 10, Progress: 1},
			{Addr: netip.MustParseAddrPort("[2001:db8::5]:40000"), Client: "libtorrent 2.0.9", Flags: "I", Network: "tcp6", DownRate: 300 << 10, UpRate: 6 << 10, Progress: 0.42},
			{Addr: netip.MustParseAddrPort("192.0.2.77:1337"), Client: "-XX0001-", Flags: "Hg", Network: "tcp4", Progress: 0.05},
		},
		Trackers: []client.Tracker{
			{URL: "udp://tracker.example.org:1337/announce", Tier: 0, Status: client.TrackerWorking, LastAnnounce: epoch.Add(-95 * time.Second),
				NextAnnounce: epoch.Add(28 * time.Minute), Peers: 12, Seeders: 40, Leechers: 7, Downloaded: 310},
			{URL: "http://tracker.example.net/announce", Tier: 1, Status: client.TrackerNotContacted, Seeders: -1, Leechers: -1, Downloaded: -1},
			{URL: "udp://broken.example.com:80", Tier: 2, Status: client.TrackerFailed, LastAnnounce: epoch.Add(-20 * time.Second),
				NextAnnounce: epoch.Add(10 * time.Second), Seeders: -1, Leechers: -1, Downloaded: -1,
				Err: "Requested download is not authorized for use with this tracker."},
		},
		Pieces: pieces,
	})
	for _, st := range []client.Stats{
		{ID: idDebian, Name: "debian-12.5.0-amd64-netinst.iso", State: client.StatePaused, BytesCompleted: 66 * mib, Length: 659 * mib,
			PeersKnown: 40, ETA: -1, AddedAt: hoursAgo(5), DownloadDir: "/srv/torrents"},
		{ID: idArch, Name: "archlinux-2024.06.01-x86_64.iso", State: client.StateError, Error: "write /srv/torrents/arch.iso: no space left on device",
			BytesCompleted: 900 * mib, Length: 1100 * mib, ETA: -1, AddedAt: hoursAgo(3), DownloadDir: "/srv/torrents"},
		{ID: idSintel, Name: "Sintel", State: client.StateMetadata, PeersConnected: 1, PeersKnown: 2, ETA: -1, AddedAt: hoursAgo(0), DownloadDir: "/srv/torrents"},
		{ID: idLinux, Name: "linux-6.9.tar.xz", State: client.StateChecking, BytesCompleted: 60 * mib, Length: 137 * mib, ETA: -1,
			AddedAt: hoursAgo(2), DownloadDir: "/srv/torrents"},
		{ID: idTears, Name: "Tears of Steel", State: client.StateStalled, BytesCompleted: 12 * mib, Length: 540 * mib, PeersKnown: 5,
			ETA: -1, AddedAt: hoursAgo(4), DownloadDir: "/srv/torrents"},
	} {
		f.Put(clienttest.Torrent{Stats: st})
	}
	return f
}
