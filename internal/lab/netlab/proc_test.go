//go:build linux

package netlab

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startShell runs script in sh as a Proc, outside any lab: the harness
// does not depend on where the program runs.
func startShell[L any](t *testing.T, script string, parse func(string) (L, bool)) *Proc[L] {
	t.Helper()
	c := &Cmd{Cmd: exec.Command("sh", "-c", script)}
	p, err := startProc(c, c.Cmd.Start, parse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(syscall.SIGKILL, time.Second) })
	return p
}

func TestProcKeepsParsedLinesInOrder(t *testing.T) {
	p := startShell(t, `echo '{"n":1}'; echo 'not json'; echo '{"n":2}'; echo '{"n":3}'`, JSONObject)
	ctx := context.Background()
	two, err := p.WaitLine(ctx, 0, 5*time.Second, "n=2", func(m map[string]any) bool { return m["n"] == 2.0 })
	if err != nil {
		t.Fatal(err)
	}
	if two.Index != 1 {
		t.Errorf("n=2 at index %d, want 1 (the line that is not JSON is dropped)", two.Index)
	}
	// From after a match on, the earlier lines are not seen again.
	var seen []any
	if _, err := p.WaitLine(ctx, two.Index+1, 5*time.Second, "n=3", func(m map[string]any) bool {
		seen = append(seen, m["n"])
		return m["n"] == 3.0
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Errorf("lines seen from index %d: %v, want only n=3", two.Index+1, seen)
	}
	if code, err := p.Wait(ctx, 5*time.Second); err != nil || code != 0 {
		t.Fatalf("wait: exit %d, %v", code, err)
	}
	if p.Len() != 3 || len(p.Lines(1)) != 2 || len(p.Lines(-1)) != 3 || len(p.Lines(9)) != 0 {
		t.Errorf("Len %d, Lines(1) %v, Lines(-1) %v, Lines(9) %v", p.Len(), p.Lines(1), p.Lines(-1), p.Lines(9))
	}
}

func TestProcLineBeforeExitIsFound(t *testing.T) {
	p := startShell(t, `echo a; echo last`, Text)
	<-p.Exited()
	m, err := p.WaitLine(context.Background(), 0, 5*time.Second, "last", func(l string) bool { return l == "last" })
	if err != nil || m.Line != "last" || m.Index != 1 {
		t.Fatalf("after the exit: %+v, %v; want the last line, index 1", m, err)
	}
}

func TestProcExitBeforeLine(t *testing.T) {
	p := startShell(t, `echo ready; echo oops >&2; exit 3`, Text)
	_, err := p.WaitLine(context.Background(), 0, 5*time.Second, "the word go", func(l string) bool { return l == "go" })
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "the word go") ||
		!strings.Contains(err.Error(), "oops") || !strings.Contains(err.Error(), "ready") {
		t.Fatalf("error %v: want the exit, what was awaited, the last lines and stderr", err)
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.ExitCode() != 3 {
		t.Errorf("Err() = %v, want exit status 3", p.Err())
	}
	if p.Stderr() != "oops\n" {
		t.Errorf("Stderr() = %q", p.Stderr())
	}
}

func TestProcTimeoutAndContext(t *testing.T) {
	p := startShell(t, `echo started; exec sleep 60`, Text)
	never := func(string) bool { return false }
	if _, err := p.WaitLine(context.Background(), 0, 50*time.Millisecond, "a miracle", never); err == nil ||
		!strings.Contains(err.Error(), "no a miracle within 50ms") {
		t.Errorf("timeout: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.WaitLine(ctx, 0, time.Minute, "a miracle", never); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if _, err := p.Wait(context.Background(), 50*time.Millisecond); err == nil {
		t.Error("Wait on a sleeping program returned no error")
	}
	if p.Err() != nil {
		t.Errorf("Err() before the exit: %v", p.Err())
	}
	p.Stop(syscall.SIGTERM, 5*time.Second)
	if code, err := p.Wait(context.Background(), time.Second); err != nil || code != -1 {
		t.Errorf("after SIGTERM: exit %d, %v; want -1 (a signal)", code, err)
	}
	p.Signal(syscall.SIGTERM) // exited: ignored
}

func TestProcCallerStderr(t *testing.T) {
	var sb SyncBuffer
	c := &Cmd{Cmd: exec.Command("sh", "-c", "echo mine >&2")}
	c.Stderr = &sb
	p, err := startProc(c, c.Cmd.Start, Text)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if sb.String() != "mine\n" || p.Stderr() != "" {
		t.Errorf("caller's stderr %q, Stderr() %q", sb.String(), p.Stderr())
	}
}
