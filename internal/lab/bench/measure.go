//go:build linux

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTick = 100.0

// cpuSeconds reads the user+system CPU time of a running process.
func cpuSeconds(pid int) (float64, error) {
	return statSeconds(pid, 11, 12) // fields 14, 15: utime, stime
}

// statSeconds sums fields of /proc/<pid>/stat (indexes counted from the
// state, field 3) that hold clock ticks, in seconds.
func statSeconds(pid int, fields ...int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	var sum float64
	for _, k := range fields {
		if k >= len(f) {
			return 0, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f))
		}
		v, err := strconv.ParseFloat(f[k], 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/%d/stat: field %d %q: %w", pid, k+3, f[k], err)
		}
		sum += v
	}
	return sum / clockTick, nil
}

// usage is what wait4 reported for an exited child.
type usage struct {
	CPU float64 // user+system seconds
}

// machineCPU reads the busy and total CPU time of the whole machine, in
// clock ticks, from the first line of /proc/stat.
func machineCPU() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("bench: unexpected /proc/stat line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: /proc/stat field %d: %w", i+1, err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

func exitUsage(ps *os.ProcessState) usage {
	if ps == nil {
		return usage{}
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return usage{}
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return usage{CPU: tv(ru.Utime) + tv(ru.Stime)}
}

// txSampler records the bytes a host's interface has sent (or received),
// every 20ms: the seeders all live on the peer host, so its uplink counter
// tells when the payload started and stopped flowing whatever the leecher
// is, with the same clock for every client (their own progress reports
// differ in period). In the seeding test the leechers live there, and its
// received bytes tell the same of the seeder.
type txSampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	t0      time.Time
	samples []sample
}

type sample struct {
	at         time.Duration // since t0
	bytes      uint64
	busy, jiff uint64 // machine CPU (machineCPU)
}

func startTxSampler(h *netlab.Host, iface string, t0 time.Time) (*txSampler, error) {
	return startIfaceSampler(h, iface, false, t0)
}

// startIfaceSampler samples iface's received bytes if rx, else its sent
// bytes.
func startIfaceSampler(h *netlab.Host, iface string, rx bool, t0 time.Time) (*txSampler, error) {
	nl, err := netlink.NewHandleAt(h.NsHandle())
	if err != nil {
		return nil, fmt.Errorf("bench: netlink in %s: %w", h.NetNS, err)
	}
	link, err := nl.LinkByName(iface)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("bench: %s: link %s: %w", h.Name, iface, err)
	}
	idx := link.Attrs().Index
	s := &txSampler{stop: make(chan struct{}), done: make(chan struct{}), t0: t0}
	read := func() {
		l, err := nl.LinkByIndex(idx)
		if err != nil || l.Attrs().Statistics == nil {
			return
		}
		busy, jiff, _ := machineCPU()
		n := l.Attrs().Statistics.TxBytes
		if rx {
			n = l.Attrs().Statistics.RxBytes
		}
		s.mu.Lock()
		s.samples = append(s.samples, sample{time.Since(t0), n, busy, jiff})
		s.mu.Unlock()
	}
	read()
	go func() {
		defer close(s.done)
		defer nl.Close()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-s.stop:
				read()
				return
			case <-tk.C:
				read()
			}
		}
	}()
	return s, nil
}

// finish stops sampling and returns when the first payload block had left
// (16 KiB sent) and when the last one had (all but 64 KiB of what was sent
// by now: after that only announces, haves and keep-alives move), and how
// busy the machine's CPUs were from the start until then (%).
func (s *txSampler) finish() (first, last time.Duration, total uint64, busyPct float64) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) < 2 {
		return 0, 0, 0, 0
	}
	base := s.samples[0].bytes
	total = s.samples[len(s.samples)-1].bytes - base
	first, last = -1, -1
	for _, sm := range s.samples {
		sent := sm.bytes - base
		if first < 0 && sent >= 16<<10 {
			first = sm.at
		}
		if last < 0 && sent+64<<10 >= total {
			last = sm.at
			if d := sm.jiff - s.samples[0].jiff; d > 0 {
				busyPct = 100 * float64(sm.busy-s.samples[0].busy) / float64(d)
			}
		}
	}
	return first, last, total, busyPct
}

// countedBy is how many bytes the interface had counted from the start
// until at (the last sample at or before it), once finished.
func (s *txSampler) countedBy(at time.Duration) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return 0
	}
	var n uint64
	for _, sm := range s.samples {
		if sm.at > at {
			break
		}
		n = sm.bytes - s.samples[0].bytes
	}
	return n
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pollUntil calls ok every interval until it returns true or an error, or
// the context ends.
func pollUntil(ctx context.Context, interval time.Duration, ok func() (bool, error)) error {
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval): // polling an external program's progress
		}
	}
}

// hwmWatcher follows a process's peak resident set (VmHWM). wait4's
// ru_maxrss cannot serve: exec folds the parent's peak into the child's, so
// every child would report at least the bench process's own size.
type hwmWatcher struct {
	stop chan struct{}
	done chan struct{}
	peak float64 // MiB
}

func watchHWM(pid int) *hwmWatcher {
	w := &hwmWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	read := func() {
		if mib, err := statusMiB(pid, "VmHWM"); err == nil {
			w.peak = max(w.peak, mib)
		}
	}
	go func() {
		defer close(w.done)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			read()
			select {
			case <-w.stop:
				read()
				return
			case <-tk.C:
			}
		}
	}()
	return w
}

// finish stops watching and returns the peak seen, in MiB.
func (w *hwmWatcher) finish() float64 {
	close(w.stop)
	<-w.done
	return w.peak
}

// statusMiB reads a size line of /proc/<pid>/status ("VmRSS:  123456 kB")
// in MiB.
func statusMiB(pid int, key string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, fmt.Errorf("bench: no %s for pid %d", key, pid)
}
