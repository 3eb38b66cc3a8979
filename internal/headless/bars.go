package headless

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/dustin/go-humanize"
)

// barReporter draws one progress bar a torrent, in place, with bubbletea's
// inline renderer (no alternate screen: the last frame stays in the
// scrollback when the download ends).
type barReporter struct {
	prog *tea.Program
	done chan struct{}
}

func newBarReporter(out io.Writer) *barReporter {
	m := barModel{bar: progress.New(progress.WithDefaultGradient()), width: 80}
	b := &barReporter{
		prog: tea.NewProgram(m, tea.WithOutput(out), tea.WithInput(nil), tea.WithoutSignalHandler()),
		done: make(chan struct{}),
	}
	go func() {
		defer close(b.done)
		_, _ = b.prog.Run()
	}()
	return b
}

// report never fails: bars go to a terminal, and a closed terminal hangs
// up (SIGHUP) instead.
func (b *barReporter) report(lines []Line) error {
	b.prog.Send(linesMsg(lines))
	return nil
}

func (b *barReporter) close() {
	b.prog.Quit()
	<-b.done
}

type linesMsg []Line

type barModel struct {
	lines []Line
	bar   progress.Model
	width int
}

func (m barModel) Init() tea.Cmd { return nil }

func (m barModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case linesMsg:
		m.lines = msg
	case tea.WindowSizeMsg:
		m.width = msg.Width
	}
	return m, nil
}

func (m barModel) View() string {
	var b strings.Builder
	nameWidth := min(28, max(10, m.width/4))
	m.bar.Width = max(10, m.width-nameWidth-60)
	for _, l := range m.lines {
		frac := 0.0
		if l.Length > 0 {
			frac = float64(l.BytesCompleted+l.BytesUnchecked) / float64(l.Length)
		}
		fmt.Fprintf(&b, "%-*s %s %5.1f%%  ↓%9s/s ↑%9s/s %3d peers  %s\n",
			nameWidth, truncate(name(l), nameWidth), m.bar.ViewAs(frac), frac*100,
			humanize.IBytes(uint64(l.DownloadRate)), humanize.IBytes(uint64(l.UploadRate)), l.Peers, eta(l))
		// A tracker that refuses or cannot be reached says so: otherwise
		// a private tracker's refusal looks like an empty swarm.
		for _, tr := range l.Trackers {
			if tr.Error != "" {
				fmt.Fprintf(&b, "  tracker %s: %s\n", tr.Tracker, truncate(tr.Error, max(20, m.width-len(tr.Tracker)-12)))
			}
		}
		// Suspicious files, once each, under their torrent.
		for i, w := range l.Warnings {
			if i == maxWarningLines {
				fmt.Fprintf(&b, "  … and %d more suspicious files\n", len(l.Warnings)-i)
				break
			}
			fmt.Fprintf(&b, "  suspicious: %s\n", truncate(w.Path+": "+w.Reason, max(20, m.width-14)))
		}
		if l.Held != "" {
			fmt.Fprintf(&b, "  %s\n", truncate(l.Held, max(20, m.width-2)))
		}
	}
	if len(m.lines) > 0 {
		fmt.Fprintf(&b, "tunnel %s · kill switch %s\n", m.lines[0].TunnelState, m.lines[0].KillSwitch)
	}
	return b.String()
}

func name(l Line) string {
	if l.Name != "" {
		return l.Name
	}
	return l.InfoHash
}

// maxWarningLines bounds the suspicious files listed under a bar.
const maxWarningLines = 5

func eta(l Line) string {
	switch {
	case done(l):
		return "done"
	case l.State == "metadata":
		return "fetching metadata"
	case l.ETASeconds < 0:
		return l.State
	}
	return "ETA " + (time.Duration(l.ETASeconds) * time.Second).String()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
