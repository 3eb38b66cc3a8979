package natpmp

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// gateway answers NAT-PMP on loopback the way RFC 6886 says, mapping every
// request to external port ext (or refusing with code refuse), after
// dropping the first drop requests.
type gateway struct {
	conn   net.PacketConn
	ext    uint16
	refuse uint16
	drop   int
	got    chan []byte
}

func startGateway(t *testing.T, g *gateway) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.conn, g.got = conn, make(chan []byte, 16)
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req := append([]byte(nil), buf[:n]...)
			g.got <- req
			if g.drop > 0 {
				g.drop--
				continue
			}
			// Noise first: a stranger's packet and a wrong opcode.
			conn.WriteTo([]byte{0, 99, 0, 0}, from)
			var out []byte
			switch req[1] {
			case 0:
				out = []byte{0, 128, 0, 0, 0, 0, 0, 7, 11, 22, 33, 44}
			default:
				out = make([]byte, 16)
				out[1] = 128 + req[1]
				binary.BigEndian.PutUint16(out[2:], g.refuse)
				binary.BigEndian.PutUint32(out[4:], 7)
				copy(out[8:10], req[4:6])
				binary.BigEndian.PutUint16(out[10:], g.ext)
				copy(out[12:16], req[8:12])
			}
			conn.WriteTo(out, from)
		}
	}()
	return netip.MustParseAddrPort(conn.LocalAddr().String())
}

func client(t *testing.T, gw netip.AddrPort) *Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := New(conn, gw)
	c.First = 20 * time.Millisecond
	return c
}

func TestMapAndAddress(t *testing.T) {
	g := &gateway{ext: 40123, drop: 1}
	c := client(t, startGateway(t, g))
	m, err := c.Map(context.Background(), TCP, 6881, 6881, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m != (Mapping{Protocol: TCP, Internal: 6881, External: 40123, Lifetime: 60 * time.Second, Epoch: 7}) {
		t.Errorf("mapping %+v", m)
	}
	req := <-g.got
	if want := []byte{0, 2, 0, 0, 0x1a, 0xe1, 0x1a, 0xe1, 0, 0, 0, 60}; string(req) != string(want) {
		t.Errorf("request % x, want % x", req, want)
	}
	if len(g.got) != 1 {
		t.Errorf("%d requests for one answer after one was dropped, want 2", 1+len(g.got))
	}
	addr, epoch, err := c.ExternalAddress(context.Background())
	if err != nil || addr != netip.MustParseAddr("11.22.33.44") || epoch != 7 {
		t.Errorf("external address %v epoch %d, %v", addr, epoch, err)
	}
}

func TestRefusalAndSilence(t *testing.T) {
	c := client(t, startGateway(t, &gateway{refuse: 2}))
	_, err := c.Map(context.Background(), UDP, 6881, 0, time.Minute)
	var re *ResultError
	if !errors.As(err, &re) || re.Code != 2 {
		t.Fatalf("refused mapping: %v, want result code 2", err)
	}
	g := &gateway{drop: 100}
	silent := client(t, startGateway(t, g))
	if _, err := silent.Map(context.Background(), UDP, 6881, 0, time.Minute); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("silent gateway: %v, want ErrNoAnswer", err)
	}
	if n := len(g.got); n != silent.Tries {
		t.Errorf("%d requests to a silent gateway, want %d", n, silent.Tries)
	}
}
