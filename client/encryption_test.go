package client

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// wiretap is a TCP relay to target that keeps every byte of every
// connection it carries.
type wiretap struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []*bytes.Buffer
}

func newWiretap(t *testing.T, target netip.AddrPort) *wiretap {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wiretap{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp4", target.String())
			if err != nil {
				c.Close()
				continue
			}
			rec := &bytes.Buffer{}
			w.mu.Lock()
			w.conns = append(w.conns, rec)
			w.mu.Unlock()
			go w.pipe(rec, c, s)
			go w.pipe(rec, s, c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return w
}

func (w *wiretap) pipe(rec *bytes.Buffer, dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.mu.Lock()
			rec.Write(buf[:n])
			w.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (w *wiretap) addr() netip.AddrPort { return netip.MustParseAddrPort(w.ln.Addr().String()) }

// dataConns returns what crossed the connections that carried the
// download (more than handshakes: the seeder, told of the relay's address
// by PEX, also dials itself through it).
func (w *wiretap) dataConns() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out [][]byte
	for _, c := range w.conns {
		if c.Len() > 256<<10 {
			out = append(out, bytes.Clone(c.Bytes()))
		}
	}
	return out
}

// plaintextSeen counts the 64-byte samples of the content (one every
// 64 KiB) that crossed the wire as they are.
func plaintextSeen(t *testing.T, wire []byte, root string) (seen, samples int) {
	t.Helper()
	content, err := os.ReadFile(filepath.Join(root, "payload", "sub", "b.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off+64 <= len(content); off += 64 << 10 {
		samples++
		if bytes.Contains(wire, content[off:off+64]) {
			seen++
		}
	}
	return seen, samples
}

// The policies decide what crosses the wire, and each still reaches the
// peers it can: tolerated sends plaintext to a peer that allows it (RC4 on
// every byte is a tenth of the download's CPU) and falls back to
// encryption for a peer that requires it; required never shows the
// BitTorrent handshake or the data.
func TestEncryption(t *testing.T) {
	handshake := []byte("\x13BitTorrent protocol")
	for _, tc := range []struct {
		name          string
		seed, leech   Encryption
		wantPlaintext bool
	}{
		{"tolerated both", "", "", true},
		{"leecher requires", EncryptionTolerated, EncryptionRequired, false},
		{"leecher prefers", EncryptionTolerated, EncryptionPreferred, false},
		{"seeder requires", EncryptionRequired, EncryptionTolerated, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed, root, mi, id := seeder(t, Options{Encryption: tc.seed})
			tap := newWiretap(t, selfAddr(seed))
			dl := t.TempDir()
			leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: dl, Encryption: tc.leech})
			if _, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{tap.addr()}}); err != nil {
				t.Fatal(err)
			}
			waitDone(t, leech, id, 30*time.Second)
			sameTree(t, filepath.Join(root, "payload"), filepath.Join(dl, "payload"))

			conns := tap.dataConns()
			if len(conns) == 0 {
				t.Fatal("no connection through the relay carried the download")
			}
			for _, wire := range conns {
				seen, samples := plaintextSeen(t, wire, root)
				clearHandshake := bytes.Contains(wire, handshake)
				if tc.wantPlaintext && (seen == 0 || !clearHandshake) {
					t.Errorf("%d of %d content samples and handshake %v in the clear; want plaintext",
						seen, samples, clearHandshake)
				}
				if !tc.wantPlaintext && (seen > 0 || clearHandshake) {
					t.Errorf("%d of %d content samples, handshake %v in the clear; want none",
						seen, samples, clearHandshake)
				}
			}
		})
	}
}

func TestParseEncryption(t *testing.T) {
	if e, err := ParseEncryption(""); err != nil || e != EncryptionTolerated {
		t.Errorf(`ParseEncryption("") = %q, %v`, e, err)
	}
	if _, err := ParseEncryption("always"); err == nil {
		t.Error("ParseEncryption accepted an unknown policy")
	}
	if _, err := New(context.Background(), Options{DataDir: t.TempDir(), Binding: loopback, Encryption: "always"}); err == nil {
		t.Error("New accepted an unknown encryption policy")
	}
}
