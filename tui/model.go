// Package tui is wgtorrent's terminal front end (bubbletea). It shows the
// tunnel's health at all times — and says at once when the tunnel drops and
// the kill switch holds traffic — next to the torrent list, per-torrent
// details and total speeds. It talks to the engine only through
// client.Controller, from tea.Cmds, so a slow engine never freezes the
// screen.
package tui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// Options are what the UI shows about the surroundings and does on start.
type Options struct {
	KillSwitch killswitch.State // the state at start (anything but armed is shown as off)
	// KillSwitchState, when set, is polled with the tunnel status: the kill
	// switch as last measured in the kernel. It must not block.
	KillSwitchState func() killswitch.State
	// PortForward, when set, is polled with the tunnel status: the
	// forwarded port as the VPN's gateway last answered (ok false: off).
	// It must not block.
	PortForward func() (st portfwd.State, ok bool)
	Add         []client.Source // added on start
	DownloadDir string          // AddOptions.DownloadDir for torrents added here ("" = engine default)
	// SpeedsFile keeps the global limits and the alternative pair across
	// restarts ("" = not kept).
	SpeedsFile string
	// Mouse captures the mouse for the wheel. Off by default: captured, the
	// terminal no longer selects text, and a tracker's error, a hash or a
	// path are there to be copied; every action has a key.
	Mouse bool
}

const (
	refreshEvery = time.Second
	historyLen   = 300 // speed samples kept for the sparklines: 5 minutes at 1/s
	messageTTL   = 10 * time.Second
)

// model is the root model: it owns the components and routes messages.
type model struct {
	engine client.Controller
	tunnel Tunnel
	opt    Options
	ctx    context.Context
	// quitAsked: quit was pressed with torrents running; the same key
	// again quits, any other stays.
	quitAsked bool

	now       func() time.Time
	tickEvery time.Duration // 0 disables the tick (tests send tickMsg)

	keys   keyMap
	help   help.Model
	width  int
	height int

	bar    tunnelBar
	list   torrentList
	detail *detailView
	dialog dialog

	downHist, upHist   []int64
	downRate, upRate   int64
	downLimit, upLimit int64 // in force, as the engine says
	speeds             speeds
	keeper             *speedsKeeper

	message    string
	messageErr bool
	messageAt  time.Time
}

// New returns the root model. Run is the usual entry point; New is for
// embedding the model in another program.
func New(engine client.Controller, tunnel Tunnel, opt Options) tea.Model {
	return newModel(context.Background(), engine, tunnel, opt)
}

func newModel(ctx context.Context, engine client.Controller, tunnel Tunnel, opt Options) *model {
	h := help.New()
	h.ShortSeparator = " · "
	return &model{
		engine:    engine,
		tunnel:    tunnel,
		opt:       opt,
		ctx:       ctx,
		now:       time.Now,
		tickEvery: refreshEvery,
		keys:      defaultKeys(),
		help:      h,
		width:     80,
		height:    24,
		bar:       tunnelBar{killArmed: opt.KillSwitch == killswitch.StateArmed},
		list:      newTorrentList(),
		keeper:    &speedsKeeper{path: opt.SpeedsFile},
	}
}

// Run shows the UI on the terminal (alternate screen) until the
// user quits or ctx ends. It does not close the engine: the caller tears
// down.
func Run(ctx context.Context, engine client.Controller, tunnel Tunnel, opt Options) error {
	if os.Getenv("NO_COLOR") != "" {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	popts := []tea.ProgramOption{tea.WithAltScreen()}
	if opt.Mouse {
		popts = append(popts, tea.WithMouseCellMotion())
	}
	p := tea.NewProgram(newModel(ctx, engine, tunnel, opt), popts...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		p.Quit()
	}()
	_, err := p.Run()
	cancel()
	<-done
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	return nil
}

// Messages.
type (
	tickMsg    struct{}
	refreshMsg struct {
		stats     []client.Stats
		status    vpn.Status
		hasStatus bool
		// killSwitch is the measured kill switch state; "" when not polled.
		killSwitch killswitch.State
		fwd        *portfwd.State // nil: forwarding off
		down, up   int64          // rate limits
		at         time.Time
	}
	detailMsg struct {
		id       client.TorrentID
		tab      tab
		files    []client.File
		peers    []client.Peer
		trackers []client.Tracker
		pieces   client.Pieces
		err      error
	}
	actionMsg struct {
		text string // what was done, for the status line
		err  error
	}
	addedMsg struct {
		source     string
		name       string // the magnet's dn or the .torrent's name, if any
		id         client.TorrentID
		err        error
		fromDialog bool
	}
)

func (m *model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.refreshCmd(), m.tickCmd()}
	down, up := m.engine.RateLimits()
	s, found, err := loadSpeeds(m.opt.SpeedsFile, down, up)
	m.speeds = s
	m.keeper.keep(s)
	if err != nil {
		m.setMessage(err.Error(), true)
	}
	if found {
		engine := m.engine
		cmds = append(cmds, func() tea.Msg {
			engine.SetRateLimits(s.inForce())
			return nil
		})
	}
	for _, src := range m.opt.Add {
		cmds = append(cmds, m.addCmd(src, false, client.AddOptions{}))
	}
	return tea.Batch(cmds...)
}

func (m *model) tickCmd() tea.Cmd {
	if m.tickEvery <= 0 {
		return nil
	}
	return tea.Tick(m.tickEvery, func(time.Time) tea.Msg { return tickMsg{} })
}

func (m *model) refreshCmd() tea.Cmd {
	engine, tunnel, now, ks, fwd := m.engine, m.tunnel, m.now, m.opt.KillSwitchState, m.opt.PortForward
	return func() tea.Msg {
		msg := refreshMsg{stats: engine.List()}
		if ks != nil {
			msg.killSwitch = ks()
		}
		if fwd != nil {
			if st, ok := fwd(); ok {
				msg.fwd = &st
			}
		}
		msg.down, msg.up = engine.RateLimits()
		if tunnel != nil {
			msg.status, msg.hasStatus = tunnel.Status(), true
		}
		msg.at = now()
		return msg
	}
}

func (m *model) detailCmd() tea.Cmd {
	if m.detail == nil {
		return nil
	}
	engine, id, t := m.engine, m.detail.id, m.detail.tab
	return func() tea.Msg {
		msg := detailMsg{id: id, tab: t}
		switch t {
		case tabFiles:
			msg.files, msg.err = engine.Files(id)
		case tabPeers:
			msg.peers, msg.err = engine.Peers(id)
		case tabTrackers:
			msg.trackers, msg.err = engine.Trackers(id)
		case tabPieces:
			msg.pieces, msg.err = engine.Pieces(id)
		}
		return msg
	}
}

// addCmd adds src; opts.DownloadDir "" is the session's --out.
func (m *model) addCmd(src client.Source, fromDialog bool, opts client.AddOptions) tea.Cmd {
	engine, ctx := m.engine, m.ctx
	opts.DownloadDir = cmp.Or(opts.DownloadDir, m.opt.DownloadDir)
	return func() tea.Msg {
		id, err := engine.Add(ctx, src, opts)
		return addedMsg{source: src.String(), name: src.Name(), id: id, err: err, fromDialog: fromDialog}
	}
}

// action runs one engine call off the UI goroutine and reports it.
func action(text string, f func() error) tea.Cmd {
	return func() tea.Msg { return actionMsg{text: text, err: f()} }
}

func (m *model) removeCmd(ts []client.Stats, deleteData bool) tea.Cmd {
	engine := m.engine
	text := "removed " + what(ts)
	switch {
	case deleteData && len(ts) == 1:
		text += " and its data"
	case deleteData:
		text += " and their data"
	}
	return eachSaying(text, ts, func(id client.TorrentID) error { return engine.Remove(id, deleteData) })
}

// moveCmd moves the data of ts to dir; the torrents leave the list while
// their files move, and the message says so until it is done.
func (m *model) moveCmd(ts []client.Stats, dir string) tea.Cmd {
	engine := m.engine
	m.setMessage(fmt.Sprintf("moving %s to %s…", what(ts), dir), false)
	return each("moved to "+dir+":", ts, func(id client.TorrentID) error { return engine.SetLocation(id, dir, true) })
}

func (m *model) torrentLimitsCmd(ts []client.Stats, down, up int64, goal client.SeedGoal) tea.Cmd {
	engine := m.engine
	text := fmt.Sprintf("down %s, up %s", limitText(down), limitText(up))
	if r, on := goal.RatioLimit(client.SeedDefaults{}); on {
		text += fmt.Sprintf(", seeds to ratio %g", r)
	}
	return each(text+" for", ts, func(id client.TorrentID) error {
		return errors.Join(engine.SetTorrentRateLimits(id, down, up), engine.SetSeedGoal(id, goal))
	})
}

func limitText(v int64) string {
	if v <= 0 {
		return "unlimited"
	}
	return humanRate(v)
}

func (m *model) priorityCmd(id client.TorrentID, indices []int, p client.Priority) tea.Cmd {
	engine := m.engine
	return action(fmt.Sprintf("priority %s for %d file(s)", prioLabel(p, false), len(indices)), func() error {
		var errs []error
		for _, i := range indices {
			errs = append(errs, engine.SetFilePriority(id, i, p))
		}
		return errors.Join(errs...)
	})
}

func (m *model) setMessage(text string, isErr bool) {
	m.message, m.messageErr, m.messageAt = text, isErr, m.now()
}

// current is the torrent actions apply to: the one shown in detail, else the
// list's selection.
func (m *model) current() (client.Stats, bool) {
	if m.detail != nil {
		for _, s := range m.list.all {
			if s.ID == m.detail.id {
				return s, true
			}
		}
		return client.Stats{ID: m.detail.id}, true
	}
	return m.list.current()
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			// Several letters in one read (key repeat, tmux, a slow SSH
			// link) arrive as one message; the bindings match one key, so
			// each letter is handled on its own, in order.
			var cmds []tea.Cmd
			for _, r := range msg.Runes {
				_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt})
				cmds = append(cmds, cmd)
			}
			return m, tea.Batch(cmds...)
		}
		return m, m.handleKey(msg)
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		return m, nil

	case tickMsg:
		return m, tea.Batch(m.refreshCmd(), m.detailCmd(), m.tickCmd())

	case refreshMsg:
		m.applyRefresh(msg)
		return m, nil

	case detailMsg:
		if m.detail != nil && m.detail.id == msg.id {
			m.detail.setData(msg)
		}
		return m, nil

	case actionMsg:
		if msg.err != nil {
			m.setMessage(msg.text+": "+msg.err.Error(), true)
		} else {
			m.setMessage(msg.text, false)
		}
		return m, tea.Batch(m.refreshCmd(), m.detailCmd())

	case addedMsg:
		return m, m.applyAdded(msg)

	case tea.MouseMsg:
		if msg.Action == tea.MouseActionPress && m.dialog == nil {
			switch msg.Button {
			case tea.MouseButtonWheelUp:
				m.moveCursor(-1)
			case tea.MouseButtonWheelDown:
				m.moveCursor(1)
			}
		}
		return m, nil
	}
	return m, nil
}

func (m *model) applyRefresh(msg refreshMsg) {
	if msg.hasStatus {
		m.bar.observe(msg.status, msg.at)
	}
	m.bar.fwd = msg.fwd
	if msg.killSwitch != "" {
		m.bar.killArmed = msg.killSwitch != killswitch.StateOff
		m.bar.killBroken = msg.killSwitch != killswitch.StateOff && msg.killSwitch != killswitch.StateArmed
	}
	m.list.setStats(msg.stats)
	m.downLimit, m.upLimit = msg.down, msg.up
	m.downRate, m.upRate = 0, 0
	for _, s := range msg.stats {
		m.downRate += s.DownloadRate
		m.upRate += s.UploadRate
	}
	m.downHist = appendHist(m.downHist, m.downRate)
	m.upHist = appendHist(m.upHist, m.upRate)
	if m.message != "" && msg.at.Sub(m.messageAt) > messageTTL {
		m.message = ""
	}
	if m.detail != nil && !m.hasTorrent(m.detail.id) {
		m.detail = nil // removed, here or elsewhere
	}
}

func (m *model) hasTorrent(id client.TorrentID) bool {
	for _, s := range m.list.all {
		if s.ID == id {
			return true
		}
	}
	return false
}

func appendHist(h []int64, v int64) []int64 {
	h = append(h, v)
	if len(h) > historyLen {
		h = h[len(h)-historyLen:]
	}
	return h
}

func (m *model) applyAdded(msg addedMsg) tea.Cmd {
	d, inDialog := m.dialog.(*addDialog)
	if msg.fromDialog && inDialog {
		d.busy = false
		if msg.err != nil && !errors.Is(msg.err, client.ErrDuplicate) {
			d.err = msg.err.Error()
			return nil
		}
		m.dialog = nil
	}
	var dup *client.DuplicateError
	switch {
	case errors.As(msg.err, &dup):
		m.setMessage("already added", false)
		m.list.selectID(dup.ID)
	case msg.err != nil:
		m.setMessage(fmt.Sprintf("add %s: %v", msg.source, msg.err), true)
	default:
		m.setMessage("added "+cmp.Or(msg.name, string(msg.id)), false)
		m.list.selectID(msg.id)
	}
	return m.refreshCmd()
}

// quit ends the TUI, and with it every transfer: with torrents running it
// asks first, and the same key again confirms.
func (m *model) quit() tea.Cmd {
	running := 0
	for _, s := range m.list.all {
		switch s.State {
		case client.StateDownloading, client.StateSeeding, client.StateMetadata, client.StateChecking, client.StateStalled:
			running++
		}
	}
	if running == 0 || m.quitAsked {
		return tea.Quit
	}
	m.quitAsked = true
	m.setMessage(fmt.Sprintf("%d torrents are running: q again to quit (they stop until wgtorrent starts again), any other key to stay", running), true)
	return nil
}

func (m *model) moveCursor(delta int) {
	if m.detail != nil {
		m.detail.move(delta)
	} else {
		m.list.move(delta)
	}
}

func (m *model) pageSize() int { return max(m.height-8, 1) }

func (m *model) handleKey(msg tea.KeyMsg) tea.Cmd {
	quit := msg.Type == tea.KeyCtrlC || (m.dialog == nil && !m.list.filtering && key.Matches(msg, m.keys.Quit))
	if quit {
		return m.quit()
	}
	if m.quitAsked {
		m.quitAsked = false
		m.setMessage("", false) // declined: the question goes
	}
	if m.dialog != nil {
		return m.dialog.update(m, msg)
	}
	if m.list.filtering {
		return m.filterKey(msg)
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		return nil
	case key.Matches(msg, k.Add):
		m.dialog = newAddDialog(m.width, m.opt.DownloadDir)
		return nil
	case key.Matches(msg, k.AltSpeeds):
		return m.toggleAltCmd()
	case key.Matches(msg, k.Limits):
		m.dialog = newSpeedsDialog(m.speeds)
		return nil
	case key.Matches(msg, k.Up):
		m.moveCursor(-1)
		return nil
	case key.Matches(msg, k.Down):
		m.moveCursor(1)
		return nil
	case key.Matches(msg, k.PageUp):
		m.moveCursor(-m.pageSize())
		return nil
	case key.Matches(msg, k.PageDown):
		m.moveCursor(m.pageSize())
		return nil
	}
	if cmd, ok := m.torrentKey(msg); ok {
		return cmd
	}
	if m.detail != nil {
		return m.detailKey(msg)
	}
	return m.listKey(msg)
}

// targets are what the torrent actions apply to: the marked torrents in
// the list when there are any, else the current one.
func (m *model) targets() []client.Stats {
	if m.detail == nil {
		if ts := m.list.markedStats(); len(ts) > 0 {
			return ts
		}
	}
	if s, ok := m.current(); ok {
		return []client.Stats{s}
	}
	return nil
}

// torrentKey handles the actions on the targets, in both screens.
func (m *model) torrentKey(msg tea.KeyMsg) (tea.Cmd, bool) {
	k := m.keys
	if !key.Matches(msg, k.Pause, k.Remove, k.Move, k.Reannounce, k.Verify, k.Sequential, k.TorrentLimits) {
		return nil, false
	}
	ts := m.targets()
	if len(ts) == 0 {
		return nil, true
	}
	engine, s := m.engine, ts[0]
	switch {
	case key.Matches(msg, k.Pause):
		// All stopped: start them; else stop those running.
		stopped := func(s client.Stats) bool { return s.State == client.StatePaused || s.State == client.StateError }
		if !slices.ContainsFunc(ts, func(s client.Stats) bool { return !stopped(s) }) {
			return each("resumed", ts, engine.Resume), true
		}
		running := slices.DeleteFunc(slices.Clone(ts), stopped)
		return each("paused", running, engine.Pause), true
	case key.Matches(msg, k.Remove):
		m.dialog = &removeDialog{torrents: ts}
		return nil, true
	case key.Matches(msg, k.Move):
		m.dialog = newMoveDialog(m.width, ts)
		return nil, true
	case key.Matches(msg, k.Reannounce):
		return each("reannounced", ts, engine.Reannounce), true
	case key.Matches(msg, k.Verify):
		return each("verifying", ts, engine.Verify), true
	case key.Matches(msg, k.TorrentLimits):
		m.dialog = newTorrentLimitsDialog(ts, s.DownloadLimit, s.UploadLimit, s.SeedGoal)
		return nil, true
	case key.Matches(msg, k.Sequential):
		on := !s.Sequential
		what := map[bool]string{true: "in-order download on for", false: "in-order download off for"}[on]
		return each(what, ts, func(id client.TorrentID) error { return engine.SetSequential(id, on) }), true
	}
	return nil, true
}

// each runs f on every torrent of ts off the UI goroutine and reports
// "verb name", or "verb N torrents".
func each(verb string, ts []client.Stats, f func(client.TorrentID) error) tea.Cmd {
	return eachSaying(verb+" "+what(ts), ts, f)
}

// eachSaying is each with the report's text given.
func eachSaying(text string, ts []client.Stats, f func(client.TorrentID) error) tea.Cmd {
	return action(text, func() error {
		var errs []error
		for _, s := range ts {
			if err := f(s.ID); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", nameOf(s), err))
			}
		}
		return errors.Join(errs...)
	})
}

// what names ts in a message: the name of one, the count of several.
func what(ts []client.Stats) string {
	if len(ts) == 1 {
		return nameOf(ts[0])
	}
	return fmt.Sprintf("%d torrents", len(ts))
}

func nameOf(s client.Stats) string { return cmp.Or(s.Name, string(s.ID)) }

func (m *model) listKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Top):
		m.list.move(-len(m.list.rows))
	case key.Matches(msg, k.Bottom):
		m.list.move(len(m.list.rows))
	case key.Matches(msg, k.Open):
		if s, ok := m.list.current(); ok {
			m.detail = &detailView{id: s.ID}
			return m.detailCmd()
		}
	case key.Matches(msg, k.Sort):
		m.list.sortBy = (m.list.sortBy + 1) % numSortKeys
		m.list.rebuild()
	case key.Matches(msg, k.Reverse):
		m.list.desc = !m.list.desc
		m.list.rebuild()
	case key.Matches(msg, k.Filter):
		m.list.filtering = true
		return m.list.filter.Focus()
	case key.Matches(msg, k.Mark):
		m.list.toggleMark()
	case key.Matches(msg, k.MarkAll):
		m.list.markAll()
	case key.Matches(msg, k.Back):
		if m.list.filter.Value() != "" {
			m.list.filter.SetValue("")
			m.list.rebuild()
		} else {
			clear(m.list.marked)
		}
	}
	return nil
}

func (m *model) filterKey(msg tea.KeyMsg) tea.Cmd {
	switch msg.Type {
	case tea.KeyEnter:
		m.list.filtering = false
		m.list.filter.Blur()
		return nil
	case tea.KeyEsc:
		m.list.filtering = false
		m.list.filter.Blur()
		m.list.filter.SetValue("")
		m.list.rebuild()
		return nil
	}
	var cmd tea.Cmd
	m.list.filter, cmd = m.list.filter.Update(msg)
	m.list.rebuild()
	return cmd
}

func (m *model) detailKey(msg tea.KeyMsg) tea.Cmd {
	k, d := m.keys, m.detail
	switch {
	case key.Matches(msg, k.Back):
		m.detail = nil
	case key.Matches(msg, k.NextTab):
		d.tab = (d.tab + 1) % numTabs
		return m.detailCmd()
	case key.Matches(msg, k.PrevTab):
		d.tab = (d.tab + numTabs - 1) % numTabs
		return m.detailCmd()
	case key.Matches(msg, k.Top):
		d.top()
	case key.Matches(msg, k.Bottom):
		d.bottom()
	case key.Matches(msg, k.Priority):
		r, ok := d.selectedFileRow()
		if !ok {
			return nil
		}
		p := nextPriority(r.prio, r.mixed)
		d.setLocalPriority(r.indices, p)
		return m.priorityCmd(d.id, r.indices, p)
	}
	return nil
}

func (m *model) View() string {
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		return ""
	}
	now := m.now()
	top := m.bar.view(w, now)
	top = append(top, m.speedLine(w))

	var hk helpKeys
	switch {
	case m.dialog != nil:
		hk = m.dialog.help(m.keys)
	case m.list.filtering:
		hk = m.keys.dialogHelp(m.keys.Submit, m.keys.Cancel)
	case m.detail != nil:
		hk = m.keys.detailHelp(m.detail.tab == tabFiles)
	default:
		hk = m.keys.listHelp()
	}
	bottom := []string{m.statusLine(w)}
	bottom = append(bottom, strings.Split(m.help.View(hk), "\n")...)
	if m.help.ShowAll && !m.opt.Mouse {
		bottom = append(bottom, styleDim.Render(truncate("mouse off so that text can be selected and copied; --mouse turns the wheel on", w)))
	}

	bodyH := max(h-len(top)-len(bottom), 0)
	var body []string
	switch {
	case m.dialog != nil:
		box := lipgloss.Place(w, bodyH, lipgloss.Center, lipgloss.Center, m.dialog.view(w))
		body = strings.Split(box, "\n")
	case m.detail != nil:
		s, _ := m.current()
		body = m.detail.view(w, bodyH, s, now)
	default:
		body = m.list.view(w, bodyH)
	}
	lines := append(top, fitLines(body, bodyH)...)
	lines = append(lines, bottom...)
	if len(lines) > h {
		// Terminal too short: the tunnel bar and the body win over help.
		lines = lines[:h]
	}
	for i := range lines {
		lines[i] = strings.TrimRight(truncate(lines[i], w), " ")
	}
	return strings.Join(lines, "\n")
}

// fitLines pads or cuts lines to exactly h.
func fitLines(lines []string, h int) []string {
	if len(lines) > h {
		return lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines
}

// speedLine shows total rates with sparklines and the global limits.
func (m *model) speedLine(w int) string {
	down := styleDown.Render("↓ " + fitRight(rateOrZero(m.downRate), 10))
	up := styleUp.Render("↑ " + fitRight(rateOrZero(m.upRate), 10))
	limits := ""
	if m.downLimit > 0 || m.upLimit > 0 {
		lim := func(v int64) string {
			if v <= 0 {
				return "∞"
			}
			return humanRate(v)
		}
		limits = styleDim.Render("limit ↓ " + lim(m.downLimit) + " ↑ " + lim(m.upLimit))
	}
	if m.speeds.Alt {
		limits = strings.TrimSpace(styleWarn.Render("alt speeds") + " " + limits)
	}
	fixed := len("total ") + lipgloss.Width(down) + lipgloss.Width(up) + 2*1 + 2 + lipgloss.Width(limits) + 2
	spark := min(max((w-fixed)/2, 0), 40)
	line := "total " + down + " " + styleDown.Render(sparkline(m.downHist, spark)) + "  " +
		up + " " + styleUp.Render(sparkline(m.upHist, spark))
	if limits != "" {
		line += "  " + limits
	}
	return truncate(line, w)
}

// statusLine shows the last action's result, or the selected torrent's
// error, else why it is held or its suspicious files.
func (m *model) statusLine(w int) string {
	if m.message != "" {
		if m.messageErr {
			return truncate(styleErr.Render(m.message), w)
		}
		return truncate(styleOK.Render(m.message), w)
	}
	s, ok := m.current()
	switch {
	case !ok:
	case s.Error != "":
		return truncate(styleErr.Render("error: "+s.Error), w)
	case s.Held != "":
		return truncate(styleWarn.Render("held: "+s.Held), w)
	case len(s.Warnings) > 0:
		return truncate(styleWarn.Render(suspectSummary(s.Warnings)), w)
	}
	return ""
}

// suspectSummary is the status line of a torrent with suspicious files:
// the first, and how many more (the detail's Info tab lists them all).
func suspectSummary(ws []client.Warning) string {
	msg := "suspicious: " + ws[0].Path + ": " + ws[0].Reason
	if len(ws) > 1 {
		msg = fmt.Sprintf("%d suspicious files (details: Info tab); %s: %s", len(ws), ws[0].Path, ws[0].Reason)
	}
	return msg
}
