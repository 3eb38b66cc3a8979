// Package scriptedpeer is a BitTorrent peer for tests that plays a fixed
// script to whoever connects, whatever the torrent: the handshake, an
// extension handshake offering ut_metadata (so a magnet gets its info
// dictionary from it), a bitfield with every piece, an unchoke, then an
// answer of zeros to every block request. It is the hostile peer of issue
// 18: the info dictionary it serves is whatever the test gives it, valid
// or not, and it does exactly what makes an engine start requesting.
//
// It speaks plaintext only (wgtorrent's default tolerates it) and never
// dials out: tests point the engine at its listener (--peer).
package scriptedpeer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

const (
	protocol     = "\x13BitTorrent protocol"
	metadataID   = 3 // our ut_metadata extension number
	metadataUnit = 16 << 10
	maxMessage   = 1 << 20
)

// Peer serves one info dictionary on a listener until Close.
type Peer struct {
	info   []byte
	ih     metainfo.Hash
	ln     net.Listener
	pieces int // announced in the bitfield

	// Counters a test asserts on.
	Handshakes atomic.Int64 // connections that completed the handshake
	Requests   atomic.Int64 // block requests received (the engine started downloading)
	MetaSent   atomic.Int64 // ut_metadata pieces sent

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start serves info (a bencoded info dictionary) on ln. The bitfield
// announces as many pieces as info's "pieces" holds hashes for (at least
// one), without checking anything else: the point is to hand the engine
// exactly what an attacker would.
func Start(ln net.Listener, info []byte) *Peer {
	p := &Peer{info: info, ih: metainfo.HashBytes(info), ln: ln, conns: map[net.Conn]struct{}{}, pieces: 1}
	var d struct {
		Pieces []byte `bencode:"pieces"`
	}
	if bencode.Unmarshal(info, &d) == nil && len(d.Pieces)/20 > 1 {
		p.pieces = min(len(d.Pieces)/20, 1<<20)
	}
	p.wg.Add(1)
	go p.accept()
	return p
}

// InfoHash is the v1 info hash of the served dictionary.
func (p *Peer) InfoHash() metainfo.Hash { return p.ih }

// Addr is where the peer listens.
func (p *Peer) Addr() net.Addr { return p.ln.Addr() }

// Close stops the peer and waits for its connections to end.
func (p *Peer) Close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Peer) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			_ = p.serve(c)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
			c.Close()
		}()
	}
}

func (p *Peer) serve(c net.Conn) error {
	r := bufio.NewReader(c)
	var hs [68]byte
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(r, hs[:]); err != nil {
		return err
	}
	if string(hs[:20]) != protocol {
		return errors.New("scriptedpeer: not a plaintext BitTorrent handshake")
	}
	if !bytes.Equal(hs[28:48], p.ih[:]) {
		return fmt.Errorf("scriptedpeer: handshake for %x, serving %s", hs[28:48], p.ih.HexString())
	}
	c.SetReadDeadline(time.Time{})
	var reserved pp.PeerExtensionBits
	reserved.SetBit(pp.ExtensionBitLtep, true)
	out := bytes.NewBufferString(protocol)
	out.Write(reserved[:])
	out.Write(p.ih[:])
	out.WriteString("-SP0001-scriptedpeer")
	hsm, err := bencode.Marshal(pp.ExtendedHandshakeMessage{
		M:            map[pp.ExtensionName]pp.ExtensionNumber{pp.ExtensionNameMetadata: metadataID},
		V:            "scriptedpeer",
		Reqq:         250,
		MetadataSize: len(p.info),
	})
	if err != nil {
		return err
	}
	bits := make([]bool, p.pieces)
	for i := range bits {
		bits[i] = true
	}
	for _, m := range []pp.Message{
		{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID, ExtendedPayload: hsm},
		{Type: pp.Bitfield, Bitfield: bits},
		{Type: pp.Unchoke},
	} {
		b, err := m.MarshalBinary()
		if err != nil {
			return err
		}
		out.Write(b)
	}
	if _, err := c.Write(out.Bytes()); err != nil {
		return err
	}
	p.Handshakes.Add(1)

	theirMetadataID := pp.ExtensionNumber(0)
	for {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return err
		}
		if n == 0 {
			continue // keepalive
		}
		if n > maxMessage {
			return fmt.Errorf("scriptedpeer: message of %d bytes", n)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return err
		}
		var reply []pp.Message
		switch pp.MessageType(msg[0]) {
		case pp.Interested:
			reply = append(reply, pp.Message{Type: pp.Unchoke})
		case pp.Request:
			if len(msg) != 13 {
				return errors.New("scriptedpeer: short request")
			}
			p.Requests.Add(1)
			idx := binary.BigEndian.Uint32(msg[1:])
			begin := binary.BigEndian.Uint32(msg[5:])
			length := binary.BigEndian.Uint32(msg[9:])
			if length > 128<<10 {
				return fmt.Errorf("scriptedpeer: request for %d bytes", length)
			}
			reply = append(reply, pp.Message{Type: pp.Piece, Index: pp.Integer(idx), Begin: pp.Integer(begin), Piece: make([]byte, length)})
		case pp.Extended:
			if len(msg) < 2 {
				return errors.New("scriptedpeer: short extended message")
			}
			switch msg[1] {
			case byte(pp.HandshakeExtendedID):
				var h pp.ExtendedHandshakeMessage
				if err := bencode.Unmarshal(msg[2:], &h); err == nil {
					theirMetadataID = h.M[pp.ExtensionNameMetadata]
				}
			case metadataID:
				m, ok := p.metadataReply(msg[2:], theirMetadataID)
				if ok {
					reply = append(reply, m)
				}
			}
		}
		for _, m := range reply {
			b, err := m.MarshalBinary()
			if err != nil {
				return err
			}
			if _, err := c.Write(b); err != nil {
				return err
			}
		}
	}
}

// metadataReply answers a ut_metadata request (BEP 9) with the piece asked
// for, or a reject.
func (p *Peer) metadataReply(payload []byte, id pp.ExtensionNumber) (pp.Message, bool) {
	if id == 0 {
		return pp.Message{}, false
	}
	var req pp.ExtendedMetadataRequestMsg
	if err := bencode.Unmarshal(payload, &req); err != nil || req.Type != pp.RequestMetadataExtensionMsgType {
		return pp.Message{}, false
	}
	begin := req.Piece * metadataUnit
	if req.Piece < 0 || begin >= len(p.info) {
		b, _ := bencode.Marshal(pp.ExtendedMetadataRequestMsg{Piece: req.Piece, Type: pp.RejectMetadataExtensionMsgType})
		return pp.Message{Type: pp.Extended, ExtendedID: id, ExtendedPayload: b}, true
	}
	head, err := bencode.Marshal(pp.ExtendedMetadataRequestMsg{Piece: req.Piece, TotalSize: len(p.info), Type: pp.DataMetadataExtensionMsgType})
	if err != nil {
		return pp.Message{}, false
	}
	p.MetaSent.Add(1)
	end := min(begin+metadataUnit, len(p.info))
	return pp.Message{Type: pp.Extended, ExtendedID: id, ExtendedPayload: append(head, p.info[begin:end]...)}, true
}

// HugePieceLength is the info dictionary of issue 18 that took anacrolix
// v1.59.1 down: valid bencode, one 5000-byte file, a piece length of 2^40
// (0 chunks a piece in the engine's 32-bit types: a division by zero as
// soon as a peer with piece 0 unchokes).
func HugePieceLength() []byte {
	b, err := bencode.Marshal(map[string]any{
		"name":         "huge-pieces",
		"length":       5000,
		"piece length": int64(1) << 40,
		"pieces":       string(make([]byte, 20)),
	})
	if err != nil {
		panic(err)
	}
	return b
}

// TorrentFile wraps an info dictionary into .torrent bytes (no trackers),
// byte for byte, valid or not: what an attacker would send.
func TorrentFile(info []byte) []byte {
	return append(append([]byte("d10:created by12:scriptedpeer4:info"), info...), 'e')
}

// Magnet is a magnet link for the info dictionary, without trackers.
func Magnet(info []byte) string {
	return "magnet:?xt=urn:btih:" + metainfo.HashBytes(info).HexString()
}
