package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/wgtorrent/wgtorrent/internal/atomicfile"
)

// speeds are the global limits the user set, the alternative ("turtle")
// pair and which is in force, in bytes/s (0 = unlimited). They are kept in
// Options.SpeedsFile across restarts; what the engine enforces is read
// back from it for display.
type speeds struct {
	Down    int64 `json:"down"`
	Up      int64 `json:"up"`
	AltDown int64 `json:"alt_down"`
	AltUp   int64 `json:"alt_up"`
	Alt     bool  `json:"alt"`
}

// defaultAlt is Transmission's alternative pair: 50 kB/s each way.
const defaultAlt = 50 << 10

// inForce is the pair the engine should enforce.
func (s speeds) inForce() (down, up int64) {
	if s.Alt {
		return s.AltDown, s.AltUp
	}
	return s.Down, s.Up
}

// loadSpeeds reads path; found says whether there was a file. Limits the
// engine started with (command-line flags) win over saved ones.
func loadSpeeds(path string, engDown, engUp int64) (s speeds, found bool, err error) {
	s = speeds{AltDown: defaultAlt, AltUp: defaultAlt}
	if path != "" {
		b, rerr := os.ReadFile(path)
		switch {
		case errors.Is(rerr, fs.ErrNotExist):
		case rerr != nil:
			err = fmt.Errorf("tui: read speed limits: %w", rerr)
		default:
			if jerr := json.Unmarshal(b, &s); jerr != nil {
				err = fmt.Errorf("tui: %s: %w (ignored: the limits start unset)", path, jerr)
				s = speeds{AltDown: defaultAlt, AltUp: defaultAlt}
			} else {
				found = true
			}
		}
	}
	if engDown > 0 || engUp > 0 {
		s.Down, s.Up, s.Alt = engDown, engUp, false
	}
	return s, found, err
}

func saveSpeeds(path string, s speeds) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("keep speed limits: %w", err)
	}
	return nil
}

// speedsKeeper writes the latest speeds: commands run concurrently, and
// an older one finishing last must not win.
type speedsKeeper struct {
	mu     sync.Mutex
	path   string
	latest speeds
}

func (k *speedsKeeper) keep(s speeds) {
	k.mu.Lock()
	k.latest = s
	k.mu.Unlock()
}

// setSpeedsCmd puts s in force in the engine and keeps it.
func (m *model) setSpeedsCmd(s speeds, text string) tea.Cmd {
	m.speeds = s
	m.keeper.keep(s)
	engine, keeper := m.engine, m.keeper
	return action(text, func() error {
		keeper.mu.Lock() // the engine's limits in the same order as the file's
		defer keeper.mu.Unlock()
		engine.SetRateLimits(keeper.latest.inForce())
		return saveSpeeds(keeper.path, keeper.latest)
	})
}

// toggleAltCmd switches between the two pairs.
func (m *model) toggleAltCmd() tea.Cmd {
	s := m.speeds
	s.Alt = !s.Alt
	down, up := s.inForce()
	text := fmt.Sprintf("alternative speeds on: down %s, up %s", limitText(down), limitText(up))
	if !s.Alt {
		text = fmt.Sprintf("alternative speeds off: down %s, up %s", limitText(down), limitText(up))
	}
	return m.setSpeedsCmd(s, text)
}
