//go:build linux

// Package sockdiag asks the kernel who owns a TCP socket, and which
// sockets accept connections (NETLINK_SOCK_DIAG, the interface `ss`
// reads), over a netlink socket that may have been opened in another
// network namespace and handed over: the daemon's worker
// lives in the tunnel's private namespace while the RPC's connections live
// in the host's, where its parent opened the socket.
package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Conn is a NETLINK_SOCK_DIAG socket; one question at a time.
type Conn struct {
	mu  sync.Mutex
	f   *os.File
	seq uint32
}

// Open makes the socket in the calling thread's network namespace.
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sockdiag: socket: %w", err)
	}
	return &Conn{f: os.NewFile(uintptr(fd), "sock_diag")}, nil
}

// FromFile uses a socket Open made, e.g. in another process.
func FromFile(f *os.File) *Conn { return &Conn{f: f} }

// File is the socket, to hand to another process.
func (c *Conn) File() *os.File { return c.f }

func (c *Conn) Close() error { return c.f.Close() }

// Sizes of the kernel's structures (linux/inet_diag.h).
const (
	hdrLen    = unix.SizeofNlMsghdr
	sockIDLen = 48 // sport, dport, src[16], dst[16], if, cookie[2]
	reqLen    = 8 + sockIDLen
	uidOffset = 4 + sockIDLen + 12 // family..retrans, id, expires, rqueue, wqueue
)

// ErrNotFound: no TCP socket with those ends in the socket's namespace.
var ErrNotFound = errors.New("sockdiag: no such socket")

// UID is the owner of the TCP socket whose local end is local and whose
// remote end is remote.
func (c *Conn) UID(local, remote net.Addr) (uint32, error) {
	l, lok := local.(*net.TCPAddr)
	r, rok := remote.(*net.TCPAddr)
	if !lok || !rok {
		return 0, fmt.Errorf("sockdiag: not TCP addresses: %v, %v", local, remote)
	}
	fam, lip, rip := uint8(unix.AF_INET6), l.IP.To16(), r.IP.To16()
	if l4, r4 := l.IP.To4(), r.IP.To4(); l4 != nil && r4 != nil {
		fam, lip, rip = unix.AF_INET, l4, r4
	}
	req := make([]byte, reqLen)
	req[0], req[1] = fam, unix.IPPROTO_TCP
	ne.PutUint32(req[4:], 0xffffffff) // every state
	id := req[8:]
	binary.BigEndian.PutUint16(id[0:], uint16(l.Port))
	binary.BigEndian.PutUint16(id[2:], uint16(r.Port))
	copy(id[4:20], lip)
	copy(id[20:36], rip)
	ne.PutUint32(id[40:], 0xffffffff) // INET_DIAG_NOCOOKIE
	ne.PutUint32(id[44:], 0xffffffff)

	var uid uint32
	found := false
	err := c.ask(req, false, func(m []byte) error {
		if len(m) < uidOffset+4 {
			return fmt.Errorf("short answer (%d bytes)", len(m))
		}
		uid, found = ne.Uint32(m[uidOffset:]), true
		return nil
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("sockdiag: look up the socket %s -> %s: %w", local, remote, err)
	}
	return uid, nil
}

// Proto is a transport protocol Bound lists.
type Proto uint8

const (
	TCP Proto = unix.IPPROTO_TCP
	UDP Proto = unix.IPPROTO_UDP
)

// Kernel socket states (include/net/tcp_states.h): a listening TCP
// socket, and a UDP socket not connected to one peer (it receives from
// any).
const (
	stateClose  = 7
	stateListen = 10
)

// Bound lists the local addresses of the sockets that accept what anyone
// sends them: listening TCP sockets, or UDP sockets not connected to one
// peer; both families.
func (c *Conn) Bound(p Proto) ([]netip.AddrPort, error) {
	state := uint32(1 << stateListen)
	if p == UDP {
		state = 1 << stateClose
	}
	var out []netip.AddrPort
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := make([]byte, reqLen)
		req[0], req[1] = fam, uint8(p)
		ne.PutUint32(req[4:], state)
		err := c.ask(req, true, func(m []byte) error {
			if len(m) < 4+sockIDLen {
				return fmt.Errorf("short answer (%d bytes)", len(m))
			}
			id := m[4:]
			port := binary.BigEndian.Uint16(id[0:])
			var a netip.Addr
			if m[0] == unix.AF_INET {
				a = netip.AddrFrom4([4]byte(id[4:8]))
			} else {
				a = netip.AddrFrom16([16]byte(id[4:20])).Unmap()
			}
			out = append(out, netip.AddrPortFrom(a, port))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sockdiag: list bound sockets: %w", err)
		}
	}
	return out, nil
}

var ne = binary.NativeEndian

// ask sends one inet_diag request and hands each answer's payload to fn:
// one answer, or with dump every answer up to NLMSG_DONE.
func (c *Conn) ask(req []byte, dump bool, fn func([]byte) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	seq := c.seq
	flags := uint16(unix.NLM_F_REQUEST)
	if dump {
		flags |= unix.NLM_F_DUMP
	}
	msg := make([]byte, hdrLen, hdrLen+len(req))
	ne.PutUint32(msg[0:], uint32(hdrLen+len(req)))
	ne.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(msg[6:], flags)
	ne.PutUint32(msg[8:], seq)
	msg = append(msg, req...)

	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var qerr error
	err = rc.Control(func(fd uintptr) {
		if qerr = unix.Sendto(int(fd), msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); qerr != nil {
			return
		}
		buf := make([]byte, 1<<15)
		for {
			n, _, err := unix.Recvfrom(int(fd), buf, 0)
			if err != nil {
				qerr = err
				return
			}
			msgs, err := syscall.ParseNetlinkMessage(buf[:n])
			if err != nil {
				qerr = err
				return
			}
			for _, m := range msgs {
				if m.Header.Seq != seq {
					continue // an answer to an earlier question that timed out
				}
				switch m.Header.Type {
				case unix.NLMSG_DONE:
					return
				case unix.NLMSG_ERROR:
					if len(m.Data) >= 4 {
						if errno := -int32(ne.Uint32(m.Data)); errno != 0 {
							qerr = syscall.Errno(errno)
							if qerr == syscall.ENOENT {
								qerr = ErrNotFound
							}
						}
					}
					return
				case unix.SOCK_DIAG_BY_FAMILY:
					if qerr = fn(m.Data); qerr != nil || !dump {
						return
					}
				}
			}
		}
	})
	if err == nil {
		err = qerr
	}
	return err
}
