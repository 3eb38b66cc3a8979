// Package natpmp is a NAT-PMP client (RFC 6886) over a socket the caller
// makes: wgtorrent asks the VPN server's gateway for a forwarded port
// through the tunnel, so the socket must be one bound to the tunnel, which
// general-purpose clients (that dial the gateway themselves) cannot take.
package natpmp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Port is the gateway's NAT-PMP port.
const Port = 5351

// Protocol is what a mapping forwards.
type Protocol uint8

const (
	UDP Protocol = 1
	TCP Protocol = 2
)

func (p Protocol) String() string {
	switch p {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	}
	return fmt.Sprintf("protocol %d", uint8(p))
}

// Mapping is a gateway's answer to a mapping request.
type Mapping struct {
	Protocol Protocol
	Internal uint16        // our port the gateway forwards to
	External uint16        // the public port, the gateway's choice
	Lifetime time.Duration // until it lapses unless asked again
	Epoch    uint32        // seconds since the gateway's mapping table started
}

// ResultError is a gateway's refusal.
type ResultError struct{ Code uint16 }

func (e *ResultError) Error() string {
	switch e.Code {
	case 1:
		return "natpmp: the gateway does not speak this NAT-PMP version"
	case 2:
		return "natpmp: not authorized: the gateway refuses port mappings (does the server allow port forwarding?)"
	case 3:
		return "natpmp: the gateway has a network failure (no public address yet)"
	case 4:
		return "natpmp: the gateway is out of ports"
	case 5:
		return "natpmp: the gateway does not support this request"
	}
	return fmt.Sprintf("natpmp: the gateway answered result code %d", e.Code)
}

// ErrNoAnswer: the gateway did not answer any of the tries.
var ErrNoAnswer = errors.New("natpmp: no answer from the gateway")

// Client asks one gateway over conn.
type Client struct {
	conn net.PacketConn
	gw   *net.UDPAddr
	// Tries and First: each request is sent up to Tries times, First
	// apart, then twice as far each time (RFC 6886 says 250 ms and 9
	// tries, over a minute; a caller with retries of its own wants fewer).
	Tries int
	First time.Duration
}

// New returns a client for the gateway at gw (its address and Port)
// over conn, a UDP socket.
func New(conn net.PacketConn, gw netip.AddrPort) *Client {
	return &Client{conn: conn, gw: net.UDPAddrFromAddrPort(gw), Tries: 4, First: 250 * time.Millisecond}
}

// ExternalAddress asks for the gateway's public address.
func (c *Client) ExternalAddress(ctx context.Context) (netip.Addr, uint32, error) {
	b, err := c.call(ctx, []byte{0, 0}, 128, 12)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	return netip.AddrFrom4([4]byte(b[8:12])), binary.BigEndian.Uint32(b[4:8]), nil
}

// Map asks the gateway to forward external (0: its choice) to our
// internal port for lifetime; a lifetime of 0 deletes the mapping.
func (c *Client) Map(ctx context.Context, p Protocol, internal, external uint16, lifetime time.Duration) (Mapping, error) {
	req := make([]byte, 12)
	req[1] = byte(p)
	binary.BigEndian.PutUint16(req[4:], internal)
	binary.BigEndian.PutUint16(req[6:], external)
	binary.BigEndian.PutUint32(req[8:], uint32(lifetime/time.Second))
	b, err := c.call(ctx, req, 128+byte(p), 16)
	if err != nil {
		return Mapping{}, fmt.Errorf("%w (mapping %s %d)", err, p, internal)
	}
	return Mapping{
		Protocol: p,
		Epoch:    binary.BigEndian.Uint32(b[4:8]),
		Internal: binary.BigEndian.Uint16(b[8:10]),
		External: binary.BigEndian.Uint16(b[10:12]),
		Lifetime: time.Duration(binary.BigEndian.Uint32(b[12:16])) * time.Second,
	}, nil
}

// call sends req until an answer with opcode op and at least n bytes comes
// from the gateway, and returns it; a result code other than 0 is a
// ResultError.
func (c *Client) call(ctx context.Context, req []byte, op byte, n int) ([]byte, error) {
	buf := make([]byte, 64)
	wait := c.First
	for range c.Tries {
		if _, err := c.conn.WriteTo(req, c.gw); err != nil {
			return nil, fmt.Errorf("natpmp: send to %s: %w", c.gw, err)
		}
		deadline := time.Now().Add(wait)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if err := c.conn.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		for {
			k, from, err := c.conn.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, fmt.Errorf("natpmp: read: %w", err)
			}
			ua, ok := from.(*net.UDPAddr)
			if !ok || !ua.IP.Equal(c.gw.IP) || ua.Port != c.gw.Port || k < 4 || buf[0] != 0 || buf[1] != op {
				continue // not the answer to this request
			}
			if code := binary.BigEndian.Uint16(buf[2:4]); code != 0 {
				return nil, &ResultError{Code: code}
			}
			if k < n {
				return nil, fmt.Errorf("natpmp: answer of %d bytes, want %d", k, n)
			}
			return buf[:k], nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wait *= 2
	}
	return nil, ErrNoAnswer
}
