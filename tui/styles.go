package tui

import (
	"github.com/charmbracelet/lipgloss"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// Every style of the UI lives here. Colours are ANSI 0-15 so the UI reads the
// same in 16-colour terminals; nothing relies on colour alone (states are
// spelled out, the cursor row has a marker, the active tab brackets) so the
// UI stays usable with NO_COLOR.
var (
	colRed     = lipgloss.Color("1")
	colGreen   = lipgloss.Color("2")
	colYellow  = lipgloss.Color("3")
	colBlue    = lipgloss.Color("4")
	colMagenta = lipgloss.Color("5")
	colCyan    = lipgloss.Color("6")
	colWhite   = lipgloss.Color("15")
	colGray    = lipgloss.Color("8")

	styleTitle    = lipgloss.NewStyle().Bold(true)
	styleDim      = lipgloss.NewStyle().Foreground(colGray)
	styleErr      = lipgloss.NewStyle().Foreground(colRed).Bold(true)
	styleOK       = lipgloss.NewStyle().Foreground(colGreen)
	styleWarn     = lipgloss.NewStyle().Bold(true).Foreground(colYellow)
	styleColHead  = lipgloss.NewStyle().Bold(true).Underline(true)
	styleSelected = lipgloss.NewStyle().Reverse(true)
	styleTabOn    = lipgloss.NewStyle().Bold(true).Foreground(colCyan)
	styleTabOff   = lipgloss.NewStyle().Foreground(colGray)
	styleDown     = lipgloss.NewStyle().Foreground(colCyan)
	styleUp       = lipgloss.NewStyle().Foreground(colMagenta)
	styleDialog   = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(colBlue).Padding(0, 1)
	styleButtonOn = lipgloss.NewStyle().Bold(true).Reverse(true)

	styleTunnel = map[vpn.State]lipgloss.Style{
		vpn.StateUp:         lipgloss.NewStyle().Bold(true).Foreground(colGreen),
		vpn.StateConnecting: lipgloss.NewStyle().Bold(true).Foreground(colYellow),
		vpn.StateStale:      lipgloss.NewStyle().Bold(true).Foreground(colWhite).Background(colRed),
		vpn.StateDown:       lipgloss.NewStyle().Bold(true).Foreground(colWhite).Background(colRed),
	}
	styleKillArmed    = lipgloss.NewStyle().Foreground(colGreen)
	styleKillBlocking = lipgloss.NewStyle().Bold(true).Foreground(colRed)
	styleKillOff      = lipgloss.NewStyle().Bold(true).Foreground(colWhite).Background(colRed)

	styleState = map[client.State]lipgloss.Style{
		client.StateDownloading: lipgloss.NewStyle().Foreground(colCyan),
		client.StateSeeding:     lipgloss.NewStyle().Foreground(colGreen),
		client.StatePaused:      lipgloss.NewStyle().Foreground(colGray),
		client.StateChecking:    lipgloss.NewStyle().Foreground(colYellow),
		client.StateStalled:     lipgloss.NewStyle().Foreground(colYellow),
		client.StateMetadata:    lipgloss.NewStyle().Foreground(colMagenta),
		client.StateError:       lipgloss.NewStyle().Foreground(colRed).Bold(true),
	}
)

func stateStyle(s client.State) lipgloss.Style {
	if st, ok := styleState[s]; ok {
		return st
	}
	return lipgloss.NewStyle()
}
