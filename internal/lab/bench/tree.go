//go:build linux

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A client may be several processes: `wgtorrent daemon` runs its engine in
// a `daemon-worker` child, `wgtorrent download` its engine in a private
// namespace's child. What a client costs is what its whole process tree
// costs.

// treeUsage is a process tree's CPU and resident memory at one moment.
type treeUsage struct {
	CPU   float64 // user+system seconds, of the live processes and the children they reaped
	RSS   float64 // MiB, the live processes' resident sets summed
	Procs int
}

// processTree returns pid and its descendants (children of every thread).
func processTree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// readTree sums the usage of pid's tree. It fails only if pid itself is
// gone; a descendant exiting meanwhile is left out (its CPU goes to its
// parent's reaped-children time once reaped).
func readTree(pid int) (treeUsage, error) {
	var u treeUsage
	for i, p := range processTree(pid) {
		cpu, err := cpuWithChildren(p)
		if err != nil {
			if i == 0 {
				return u, err
			}
			continue
		}
		rss, err := vmRSS(p)
		if err != nil {
			if i == 0 {
				return u, err
			}
			continue
		}
		u.CPU += cpu
		u.RSS += rss
		u.Procs++
	}
	return u, nil
}

// waitGone waits until none of pids is running (gone, or a zombie): a
// client's children may outlive its main process a moment.
func waitGone(ctx context.Context, pids []int, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	left := pids
	err := pollUntil(ctx, 50*time.Millisecond, func() (bool, error) {
		left = slices.DeleteFunc(left, func(pid int) bool {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				return true
			}
			i := bytes.LastIndexByte(b, ')')
			return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
		})
		return len(left) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("processes %v still running: %w", left, err)
	}
	return nil
}

// cpuWithChildren is a process's user+system time plus that of the
// children it has reaped (cutime, cstime), in seconds.
func cpuWithChildren(pid int) (float64, error) {
	return statSeconds(pid, 11, 12, 13, 14) // fields 14-17: utime, stime, cutime, cstime
}

// usageSampler reads the usage of one or two process trees (a client and
// the tunnel process that serves it) every 100 ms, so that a measurement
// can take the CPU at a moment found afterwards and the peak resident set.
type usageSampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples []usageSample
}

type usageSample struct {
	at             time.Duration // since t0
	client, tunnel treeUsage
}

// startUsageSampler samples client's tree and, unless tunnel is 0,
// tunnel's, from t0 on.
func startUsageSampler(client, tunnel int, t0 time.Time) *usageSampler {
	s := &usageSampler{stop: make(chan struct{}), done: make(chan struct{})}
	read := func() {
		c, err := readTree(client)
		if err != nil {
			return
		}
		sm := usageSample{at: time.Since(t0), client: c}
		if tunnel != 0 {
			sm.tunnel, _ = readTree(tunnel)
		}
		s.mu.Lock()
		s.samples = append(s.samples, sm)
		s.mu.Unlock()
	}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			read()
			select {
			case <-s.stop:
				read()
				return
			case <-tk.C:
			}
		}
	}()
	return s
}

// finish stops sampling.
func (s *usageSampler) finish() []usageSample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// usageAt is the first sample at or after at (the last one if none is).
func usageAt(samples []usageSample, at time.Duration) usageSample {
	for _, s := range samples {
		if s.at >= at {
			return s
		}
	}
	if len(samples) == 0 {
		return usageSample{}
	}
	return samples[len(samples)-1]
}

// peakRSS is the highest resident set of the client's tree sampled.
func peakRSS(samples []usageSample) float64 {
	var peak float64
	for _, s := range samples {
		peak = max(peak, s.client.RSS)
	}
	return peak
}
