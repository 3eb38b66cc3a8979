package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap is the one place keys are bound; the help footer reads from it.
type keyMap struct {
	Up, Down, Top, Bottom, PageUp, PageDown key.Binding
	Open, Back, NextTab, PrevTab            key.Binding
	Sort, Reverse, Filter                   key.Binding
	Add, Pause, Remove, Move, Priority      key.Binding
	Mark, MarkAll                           key.Binding
	Limits, AltSpeeds, TorrentLimits        key.Binding
	Reannounce, Verify, Sequential          key.Binding
	Help, Quit                              key.Binding

	// Dialog keys.
	Submit, Cancel, Field, KeepData, DeleteData key.Binding
}

func defaultKeys() keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return keyMap{
		Up:            b([]string{"k", "up"}, "↑/k", "up"),
		Down:          b([]string{"j", "down"}, "↓/j", "down"),
		Top:           b([]string{"g", "home"}, "g", "top"),
		Bottom:        b([]string{"G", "end"}, "G", "bottom"),
		PageUp:        b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
		PageDown:      b([]string{"pgdown", "ctrl+d"}, "pgdn", "page down"),
		Open:          b([]string{"enter"}, "enter", "details"),
		Back:          b([]string{"esc", "backspace"}, "esc", "back"),
		NextTab:       b([]string{"tab", "l", "right"}, "tab/l", "next tab"),
		PrevTab:       b([]string{"shift+tab", "h", "left"}, "h", "prev tab"),
		Sort:          b([]string{"s"}, "s", "sort"),
		Reverse:       b([]string{"S"}, "S", "reverse"),
		Filter:        b([]string{"/"}, "/", "filter"),
		Add:           b([]string{"a"}, "a", "add"),
		Pause:         b([]string{"p"}, "p", "pause/resume"),
		Remove:        b([]string{"x", "delete"}, "x", "remove"),
		Move:          b([]string{"m"}, "m", "move data"),
		Priority:      b([]string{" "}, "space", "file priority"),
		Mark:          b([]string{" "}, "space", "mark"),
		MarkAll:       b([]string{"A"}, "A", "mark all shown"),
		Limits:        b([]string{"L"}, "L", "speed limits"),
		AltSpeeds:     b([]string{"t"}, "t", "alt speeds"),
		TorrentLimits: b([]string{"T"}, "T", "torrent speed limits"),
		Reannounce:    b([]string{"r"}, "r", "reannounce"),
		Verify:        b([]string{"v"}, "v", "verify"),
		Sequential:    b([]string{"o"}, "o", "in-order download"),
		Help:          b([]string{"?"}, "?", "help"),
		Quit:          b([]string{"q", "ctrl+c"}, "q", "quit"),

		Submit:     b([]string{"enter"}, "enter", "ok"),
		Cancel:     b([]string{"esc"}, "esc", "cancel"),
		Field:      b([]string{"tab", "shift+tab", "up", "down"}, "tab", "next field"),
		KeepData:   b([]string{"k"}, "k", "keep data"),
		DeleteData: b([]string{"d"}, "d", "delete data"),
	}
}

// helpKeys adapts the keymap to bubbles/help for one screen.
type helpKeys struct {
	short []key.Binding
	full  [][]key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding  { return h.short }
func (h helpKeys) FullHelp() [][]key.Binding { return h.full }

func (k keyMap) listHelp() helpKeys {
	return helpKeys{
		short: []key.Binding{k.Open, k.Add, k.Pause, k.Remove, k.Filter, k.Sort, k.Help, k.Quit},
		full: [][]key.Binding{
			{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown},
			{k.Open, k.Filter, k.Sort, k.Reverse, k.Mark, k.MarkAll, k.Back},
			{k.Add, k.Pause, k.Remove, k.Move, k.Verify, k.Reannounce},
			{k.Sequential, k.TorrentLimits, k.Limits, k.AltSpeeds, k.Help, k.Quit},
		},
	}
}

func (k keyMap) detailHelp(filesTab bool) helpKeys {
	short := []key.Binding{k.NextTab, k.Back, k.Pause, k.Remove}
	if filesTab {
		short = append(short, k.Priority)
	}
	short = append(short, k.Help, k.Quit)
	return helpKeys{
		short: short,
		full: [][]key.Binding{
			{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown},
			{k.NextTab, k.PrevTab, k.Back, k.Priority},
			{k.Pause, k.Remove, k.Verify, k.Reannounce, k.Sequential, k.TorrentLimits},
			{k.Add, k.Limits, k.Help, k.Quit},
		},
	}
}

func (k keyMap) dialogHelp(bs ...key.Binding) helpKeys {
	return helpKeys{short: bs, full: [][]key.Binding{bs}}
}
