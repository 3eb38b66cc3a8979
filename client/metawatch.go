package client

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"sync"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// metadataUnit is ut_metadata's piece size (BEP 9).
const metadataUnit = 16 << 10

// maxMetadata bounds what metadataWatch keeps a torrent: far above the
// info dictionary of a torrent at MaxFiles, far below what would hurt.
const maxMetadata = 64 << 20

// metadataWatch reads a magnet's metadata as peers send it (ut_metadata
// data messages) and runs ValidateInfo on it as soon as it is whole and
// matches the info hash. checkedStorage cannot see metadata that anacrolix
// refuses by its own checks (zero piece length, piece count at odds with
// the length): anacrolix drops it before opening storage and fetches it
// again from the next peer, forever, so the torrent would sit in
// "metadata". Here every info dictionary with the right hash is judged,
// and refused is told the reason.
type metadataWatch struct {
	refused func(ih metainfo.Hash, err error)

	mu      sync.Mutex
	partial map[metainfo.Hash]*partialMetadata
}

type partialMetadata struct {
	size   int
	pieces map[int][]byte
}

func newMetadataWatch(refused func(metainfo.Hash, error)) *metadataWatch {
	return &metadataWatch{refused: refused, partial: make(map[metainfo.Hash]*partialMetadata)}
}

// onExtension is an anacrolix PeerConnReadExtensionMessage callback. It runs
// under anacrolix's client lock, before anacrolix handles the message.
func (w *metadataWatch) onExtension(ev torrent.PeerConnReadExtensionMessageEvent) {
	c := ev.PeerConn
	if c == nil || c.LocalLtepProtocolMap == nil {
		return
	}
	name, _, err := c.LocalLtepProtocolMap.LookupId(ev.ExtensionNumber)
	if err != nil || name != pp.ExtensionNameMetadata {
		return
	}
	t := c.Torrent()
	if t == nil {
		return
	}
	ih := t.InfoHash()
	if t.Info() != nil {
		w.forget(ih)
		return
	}
	var msg pp.ExtendedMetadataRequestMsg
	err = bencode.Unmarshal(ev.Payload, &msg)
	var trailing bencode.ErrUnusedTrailingBytes
	if err != nil && !errors.As(err, &trailing) {
		return
	}
	if msg.Type != pp.DataMetadataExtensionMsgType || msg.TotalSize <= 0 || msg.TotalSize > maxMetadata {
		return
	}
	n := (msg.TotalSize + metadataUnit - 1) / metadataUnit
	size := msg.PieceSize()
	if msg.Piece < 0 || msg.Piece >= n || size <= 0 || size > len(ev.Payload) {
		return
	}
	if info, whole := w.add(ih, msg.TotalSize, n, msg.Piece, ev.Payload[len(ev.Payload)-size:]); whole {
		if err := judgeMetadata(ih, info); err != nil {
			w.refused(ih, err)
		}
	}
}

// add keeps one piece and returns the whole info dictionary once every
// piece is there; a piece that disagrees on the size starts afresh.
func (w *metadataWatch) add(ih metainfo.Hash, total, n, piece int, data []byte) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.partial[ih]
	if p == nil || p.size != total {
		p = &partialMetadata{size: total, pieces: make(map[int][]byte, n)}
		w.partial[ih] = p
	}
	p.pieces[piece] = bytes.Clone(data)
	if len(p.pieces) < n {
		return nil, false
	}
	delete(w.partial, ih)
	whole := make([]byte, 0, total)
	for i := range n {
		whole = append(whole, p.pieces[i]...)
	}
	return whole, len(whole) == total
}

func (w *metadataWatch) forget(ih metainfo.Hash) {
	w.mu.Lock()
	delete(w.partial, ih)
	w.mu.Unlock()
}

// judgeMetadata is nil for metadata that is not this torrent's (a wrong
// hash: a peer's fault, anacrolix fetches it again) or that passes
// ValidateInfo; otherwise the reason the torrent is refused.
func judgeMetadata(ih metainfo.Hash, b []byte) error {
	if sha1.Sum(b) != ih {
		return nil
	}
	var info metainfo.Info
	if err := bencode.Unmarshal(b, &info); err != nil {
		return refuse("info", "not a valid bencoded dictionary: %v", err)
	}
	if err := ValidateInfo(&info); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}
