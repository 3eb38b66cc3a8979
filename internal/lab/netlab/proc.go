//go:build linux

package netlab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Proc is a program started in a lab host whose stdout is read line by line
// as it arrives: the e2e tests, the benchmark and the demo all start a
// program, wait for the line that says it is ready (or done), then signal
// it and wait for its exit. Each line goes through the parse function given
// to StartProc; the lines it accepts are kept, in order.
type Proc[L any] struct {
	Cmd *Cmd

	start  time.Time
	parse  func(string) (L, bool)
	stderr *SyncBuffer // nil when the caller set Cmd.Stderr

	exited chan struct{}
	err    error // Cmd.Wait's, set before exited is closed

	mu    sync.Mutex
	lines []L
	next  chan struct{} // closed and replaced on every kept line
}

// Match is a line WaitLine found.
type Match[L any] struct {
	Line  L
	Index int           // among the kept lines: WaitLine from Index+1 goes on after it
	After time.Duration // from the start until it was found
}

// Text keeps every line as it is.
func Text(line string) (string, bool) { return line, true }

// JSONObject keeps the lines that are JSON objects, decoded.
func JSONObject(line string) (map[string]any, bool) {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// StartProc starts cmd and reads its stdout through parse. Its stderr is
// kept for Stderr unless the caller has set cmd.Stderr.
func StartProc[L any](cmd *Cmd, parse func(string) (L, bool)) (*Proc[L], error) {
	return startProc(cmd, cmd.Start, parse)
}

// startProc is StartProc with the start left to the caller: tests start a
// plain process, outside any lab.
func startProc[L any](cmd *Cmd, start func() error, parse func(string) (L, bool)) (*Proc[L], error) {
	p := &Proc[L]{Cmd: cmd, parse: parse, exited: make(chan struct{}), next: make(chan struct{})}
	if cmd.Stderr == nil {
		p.stderr = &SyncBuffer{}
		cmd.Stderr = p.stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: stdout: %w", p.name(), err)
	}
	p.start = time.Now()
	if err := start(); err != nil {
		return nil, fmt.Errorf("netlab: start %s: %w", p.name(), err)
	}
	go p.read(out)
	return p, nil
}

func (p *Proc[L]) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l, ok := p.parse(sc.Text())
		if !ok {
			continue
		}
		p.mu.Lock()
		p.lines = append(p.lines, l)
		close(p.next)
		p.next = make(chan struct{})
		p.mu.Unlock()
	}
	// A line beyond the scanner's limit ends the reading, not the output:
	// drain it so that the program never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, out)
	p.err = p.Cmd.Wait()
	close(p.exited)
}

func (p *Proc[L]) name() string { return filepath.Base(p.Cmd.Path) }

// Len is how many lines have been kept so far.
func (p *Proc[L]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// Lines returns the kept lines from index from on.
func (p *Proc[L]) Lines(from int) []L {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]L(nil), p.lines[min(max(from, 0), len(p.lines)):]...)
}

// WaitLine waits for a kept line, from index from on, that satisfies ok,
// which sees every line once, in order. what names the line in errors: the
// program exited first, timeout passed, or ctx ended.
func (p *Proc[L]) WaitLine(ctx context.Context, from int, timeout time.Duration, what string, ok func(L) bool) (Match[L], error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	exited := false
	for seen := from; ; {
		p.mu.Lock()
		lines, next := p.lines, p.next
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if ok(lines[seen]) {
				return Match[L]{Line: lines[seen], Index: seen, After: time.Since(p.start)}, nil
			}
		}
		if exited {
			// Every line is in once the program has exited.
			return Match[L]{}, fmt.Errorf("netlab: %s exited (%v) before %s%s", p.name(), p.err, what, p.context(lines))
		}
		select {
		case <-next:
		case <-p.exited:
			exited = true
		case <-deadline.C:
			return Match[L]{}, fmt.Errorf("netlab: %s: no %s within %s%s", p.name(), what, timeout, p.context(lines))
		case <-ctx.Done():
			return Match[L]{}, fmt.Errorf("netlab: %s: waiting for %s: %w", p.name(), what, ctx.Err())
		}
	}
}

// context is what an error about the program quotes: its last lines and
// the end of its stderr.
func (p *Proc[L]) context(lines []L) string {
	s := fmt.Sprintf("; last lines %v", lines[max(0, len(lines)-3):])
	if p.stderr != nil {
		s += "; stderr:\n" + Tail(p.stderr.String(), 4000)
	}
	return s
}

// Exited is closed once the program has exited and its output is read.
func (p *Proc[L]) Exited() <-chan struct{} { return p.exited }

// Err is Cmd.Wait's error once the program has exited; nil before.
func (p *Proc[L]) Err() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// Stderr is what the program wrote to stderr so far, unless the caller
// took its stderr.
func (p *Proc[L]) Stderr() string {
	if p.stderr == nil {
		return ""
	}
	return p.stderr.String()
}

// Signal sends sig; a program that has exited ignores it.
func (p *Proc[L]) Signal(sig os.Signal) {
	select {
	case <-p.exited:
	default:
		_ = p.Cmd.Process.Signal(sig)
	}
}

// Wait waits for the program to exit and returns its exit code (-1 when a
// signal ended it). The error says it was still running after timeout, or
// ctx ended.
func (p *Proc[L]) Wait(ctx context.Context, timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.Cmd.ProcessState.ExitCode(), nil
	case <-t.C:
		return -1, fmt.Errorf("netlab: %s still running after %s", p.name(), timeout)
	case <-ctx.Done():
		return -1, fmt.Errorf("netlab: waiting for %s to exit: %w", p.name(), ctx.Err())
	}
}

// Stop sends sig and waits for the exit, killing the program if it is
// still running after grace.
func (p *Proc[L]) Stop(sig os.Signal, grace time.Duration) {
	p.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}

// Tail is the end of s, at most n bytes of it, for an error quoting a
// program's output.
func Tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
