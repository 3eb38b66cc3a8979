package demo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// swarm is the peer host's side of the demo: a tracker and a seeder.
type swarm struct {
	announce string
	name     string
	content  string // the seeder's copy
	torrent  string // .torrent file
	size     int64
	files    int

	mu      sync.Mutex
	seen    []netip.AddrPort
	closers []func()
}

const demoName = "wgtorrent-demo"

func startSwarm(ctx context.Context, lab *netlab.Lab, dir, self string, out io.Writer) (*swarm, error) {
	sw := &swarm{name: demoName}
	seedDir := filepath.Join(dir, "seeder")
	sw.content = filepath.Join(seedDir, demoName)
	var err error
	if sw.size, sw.files, err = generate(sw.content); err != nil {
		return nil, fmt.Errorf("demo: generate content: %w", err)
	}

	seederUp := make(chan struct{})
	var once sync.Once
	trk := newTracker(func(from netip.AddrPort) {
		sw.mu.Lock()
		if !slices.Contains(sw.seen, from) {
			sw.seen = append(sw.seen, from)
		}
		sw.mu.Unlock()
		if from.Addr() == lab.Peer.Addr4 {
			once.Do(func() { close(seederUp) })
		}
	})
	ln, err := lab.Peer.ListenTCP(lab.Peer.Addr4.String() + ":6969")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: trk, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	sw.closers = append(sw.closers, func() { hs.Close() })
	sw.announce = fmt.Sprintf("http://%s:6969/announce", lab.Peer.Addr4)

	sw.torrent = filepath.Join(dir, demoName+".torrent")
	if err := writeTorrent(sw.content, sw.announce, sw.torrent); err != nil {
		sw.close()
		return nil, err
	}
	cmd := lab.Peer.Command(ctx, self, "lab-seed", "--torrent", sw.torrent, "--dir", seedDir,
		"--bind", lab.Peer.Addr4.String(), "--data", filepath.Join(dir, "seeder-state"), "--log-level", "error")
	cmd.Stderr = prefixWriter(out, "   [seeder] ")
	seeding := make(chan struct{})
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		sw.close()
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "seeding" {
				close(seeding)
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		sw.close()
		return nil, fmt.Errorf("demo: start seeder: %w", err)
	}
	sw.closers = append(sw.closers, func() { cmd.Process.Kill(); cmd.Wait() })
	for _, ready := range []chan struct{}{seeding, seederUp} {
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			sw.close()
			return nil, errors.New("demo: the seeder did not verify its data and announce within 30s")
		case <-ctx.Done():
			sw.close()
			return nil, ctx.Err()
		}
	}
	return sw, nil
}

func (sw *swarm) announcers() string {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	var s []string
	for _, a := range sw.seen {
		s = append(s, a.Addr().String())
	}
	return strings.Join(slices.Compact(s), ", ")
}

func (sw *swarm) close() {
	for i := len(sw.closers) - 1; i >= 0; i-- {
		sw.closers[i]()
	}
	sw.closers = nil
}

// generate writes random content: a large file and a small one in a
// subdirectory, so the torrent has several files.
func generate(dir string) (size int64, files int, err error) {
	entries := []struct {
		path string
		size int64
	}{{"video.bin", 48 << 20}, {"extras/readme.bin", 1<<20 + 12345}}
	for _, e := range entries {
		p := filepath.Join(dir, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 0, 0, err
		}
		f, err := os.Create(p)
		if err != nil {
			return 0, 0, err
		}
		_, err = io.CopyN(f, rand.Reader, e.size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, 0, err
		}
		size += e.size
	}
	return size, len(entries), nil
}

func writeTorrent(content, announce, path string) error {
	info := metainfo.Info{PieceLength: 256 << 10}
	if err := info.BuildFromFilePath(content); err != nil {
		return fmt.Errorf("demo: build torrent: %w", err)
	}
	mi := metainfo.MetaInfo{Announce: announce, CreatedBy: "wgtorrent demo", CreationDate: time.Now().Unix()}
	var err error
	if mi.InfoBytes, err = encodeInfo(info); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return mi.Write(f)
}

// sameTree compares every file under a with its twin under b by SHA-256.
func sameTree(a, b string) error {
	return filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		ha, err := fileHash(p)
		if err != nil {
			return err
		}
		hb, err := fileHash(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(ha, hb) {
			return fmt.Errorf("%s differs", rel)
		}
		return nil
	})
}

func fileHash(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
