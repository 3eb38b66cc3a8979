package tui

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/dustin/go-humanize"

	"github.com/wgtorrent/wgtorrent/client"
)

// dialog is a modal box that takes all keys while open.
type dialog interface {
	update(m *model, msg tea.KeyMsg) tea.Cmd
	view(width int) string
	help(k keyMap) helpKeys
}

func dialogWidth(width int) int { return min(max(width-4, 20), 76) }

// validateSource parses what the user typed in the add dialog (a leading
// ~/ is the home directory, as in a shell) and reads a .torrent file, so
// that the dialog can say what is wrong before the engine sees it.
func validateSource(s string) (client.Source, error) {
	src, err := client.ParseSource(expandHome(strings.TrimSpace(s)))
	if err != nil {
		return client.Source{}, err
	}
	return src.Load()
}

// folderField is a folder input whose Tab completes paths, with the free
// space of the folder typed.
type folderField struct {
	input textinput.Model
	dir   string // as last checked
	free  int64  // bytes free there; -1 unknown
}

func newFolderField(width int, dir string) folderField {
	ti := textinput.New()
	ti.Prompt = "folder: "
	ti.CharLimit = 4096
	ti.Width = dialogWidth(width) - 12
	ti.SetValue(dir)
	f := folderField{input: ti, free: -1}
	f.check()
	return f
}

// check reads the free space of the folder typed.
func (f *folderField) check() {
	dir := expandHome(strings.TrimSpace(f.input.Value()))
	if dir == f.dir && f.free >= 0 {
		return
	}
	f.dir, f.free = dir, -1
	if dir != "" {
		if free, _, err := client.FreeSpace(existingParent(dir)); err == nil {
			f.free = free
		}
	}
}

// complete extends the folder typed (completePath) and says whether it did.
func (f *folderField) complete() bool {
	v := f.input.Value()
	c := completePath(v)
	if c == v {
		return false
	}
	f.input.SetValue(c)
	f.input.CursorEnd()
	f.check()
	return true
}

func (f *folderField) update(msg tea.KeyMsg) tea.Cmd {
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(msg)
	f.check()
	return cmd
}

// resolve is the folder as an absolute path where we may write ("" stays
// "": the default).
func (f *folderField) resolve() (string, error) {
	if f.dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(f.dir)
	if err == nil {
		err = client.CheckWritableDir(existingParent(abs))
	}
	if err != nil {
		return "", fmt.Errorf("folder: %w", err)
	}
	return abs, nil
}

// status is the line under the fields: the error, else the free space.
func (f *folderField) status(w int, err string) string {
	switch {
	case err != "":
		return styleErr.Render(lipgloss.NewStyle().Width(w - 4).Render(err))
	case f.free >= 0:
		return styleDim.Render(truncate(fmt.Sprintf("%s free in %s", humanBytes(f.free), f.dir), w-4))
	}
	return ""
}

// addDialog asks for a magnet link or .torrent path, the folder it goes to
// (Tab completes a path) and whether it starts paused; it shows the free
// space of that folder and why a source was refused, without closing.
type addDialog struct {
	input  textinput.Model // the source
	folder folderField
	paused bool
	focus  int // 0 source, 1 folder, 2 paused
	err    string
	busy   bool
}

func newAddDialog(width int, dir string) *addDialog {
	ti := textinput.New()
	ti.Prompt = "> "
	ti.Placeholder = "magnet:?xt=urn:btih:… or /path/to/file.torrent"
	ti.CharLimit = 4096
	ti.Width = dialogWidth(width) - 6
	ti.Focus()
	return &addDialog{input: ti, folder: newFolderField(width, dir)}
}

// expandHome reads a leading ~/ as the home directory, as a shell does.
func expandHome(s string) string {
	if rest, ok := strings.CutPrefix(s, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return s
}

// completePath extends a typed folder to the longest prefix the folders it
// could name share, with a slash when only one does; else returns it as
// it is.
func completePath(typed string) string {
	full := expandHome(typed)
	dir, base := filepath.Split(full)
	if dir == "" {
		return typed
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return typed
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base) || (strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && st.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return typed
	}
	common := names[0]
	for _, n := range names[1:] {
		for !strings.HasPrefix(n, common) {
			common = common[:len(common)-1]
		}
	}
	if len(names) == 1 {
		common += "/"
	}
	return typed[:len(typed)-len(base)] + common
}

// existingParent is dir, or the nearest folder above it that exists (the
// engine creates the rest).
func existingParent(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}

func (d *addDialog) setFocus(i int) tea.Cmd {
	d.focus = (i + 3) % 3
	d.input.Blur()
	d.folder.input.Blur()
	switch d.focus {
	case 0:
		return d.input.Focus()
	case 1:
		return d.folder.input.Focus()
	}
	return nil
}

func (d *addDialog) update(m *model, msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Cancel):
		m.dialog = nil
		return nil
	case msg.Type == tea.KeyTab && d.focus == 1 && d.folder.complete():
		return nil // Tab completes the folder; with nothing to complete it moves on
	case msg.Type == tea.KeyShiftTab, msg.Type == tea.KeyUp:
		return d.setFocus(d.focus - 1)
	case msg.Type == tea.KeyTab, msg.Type == tea.KeyDown:
		return d.setFocus(d.focus + 1)
	case d.focus == 2 && (msg.Type == tea.KeySpace || msg.String() == "x"):
		d.paused = !d.paused
		return nil
	case key.Matches(msg, m.keys.Submit):
		return d.submit(m)
	}
	switch d.focus {
	case 0:
		var cmd tea.Cmd
		d.input, cmd = d.input.Update(msg)
		return cmd
	case 1:
		return d.folder.update(msg)
	}
	return nil
}

func (d *addDialog) submit(m *model) tea.Cmd {
	if d.busy {
		return nil
	}
	src, err := validateSource(d.input.Value())
	var in *client.InputError
	switch {
	case errors.As(err, &in):
		d.err = in.Reason // without the package prefix: the user typed it
		if in.Err != nil {
			d.err += ": " + in.Err.Error()
		}
		return nil
	case err != nil:
		d.err = err.Error()
		return nil
	}
	dir, err := d.folder.resolve()
	if err != nil {
		d.err = err.Error()
		return nil
	}
	if n, free := src.Length(), d.folder.free; free >= 0 && n > free {
		// Files are allocated in full: it would fail at the first write.
		d.err = fmt.Sprintf("%s needs %s; %s has %s free", cmp.Or(src.Name(), "the torrent"), humanBytes(n), d.folder.dir, humanBytes(free))
		return nil
	}
	d.err, d.busy = "", true
	return m.addCmd(src, true, client.AddOptions{DownloadDir: dir, Paused: d.paused})
}

func (d *addDialog) view(width int) string {
	w := dialogWidth(width)
	box := "[ ]"
	if d.paused {
		box = "[x]"
	}
	pausedLine := box + " start paused"
	if d.focus == 2 {
		pausedLine = styleSelected.Render(pausedLine)
	}
	status := d.folder.status(w, d.err)
	if d.busy {
		status = styleDim.Render("adding…")
	}
	lines := []string{
		styleTitle.Render("Add torrent"),
		"Magnet link or path of a .torrent file:",
		d.input.View(),
		d.folder.input.View(),
		pausedLine,
		status,
	}
	return styleDialog.Width(w).Render(strings.Join(lines, "\n"))
}

func (d *addDialog) help(k keyMap) helpKeys {
	return k.dialogHelp(k.Submit, k.Field, k.Cancel)
}

// moveDialog moves the data of torrents to a folder (Tab completes it).
type moveDialog struct {
	torrents []client.Stats
	folder   folderField
	err      string
}

func newMoveDialog(width int, ts []client.Stats) *moveDialog {
	d := &moveDialog{torrents: ts, folder: newFolderField(width, ts[0].DownloadDir)}
	d.folder.input.Focus()
	d.folder.input.CursorEnd()
	return d
}

func (d *moveDialog) update(m *model, msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Cancel):
		m.dialog = nil
		return nil
	case msg.Type == tea.KeyTab:
		d.folder.complete()
		return nil
	case key.Matches(msg, m.keys.Submit):
		dir, err := d.folder.resolve()
		if err == nil && dir == "" {
			err = errors.New("give the folder to move the data to")
		}
		if err != nil {
			d.err = err.Error()
			return nil
		}
		m.dialog = nil
		return m.moveCmd(d.torrents, dir)
	}
	return d.folder.update(msg)
}

func (d *moveDialog) view(width int) string {
	w := dialogWidth(width)
	lines := []string{
		styleTitle.Render("Move data"),
		truncate(fmt.Sprintf("%s, now in %s", what(d.torrents), d.torrents[0].DownloadDir), w-4),
		d.folder.input.View(),
		d.folder.status(w, d.err),
	}
	return styleDialog.Width(w).Render(strings.Join(lines, "\n"))
}

func (d *moveDialog) help(k keyMap) helpKeys { return k.dialogHelp(k.Submit, k.Cancel) }

// removeDialog confirms a removal and asks whether the data goes too.
type removeDialog struct {
	torrents   []client.Stats
	deleteData bool
}

func (d *removeDialog) update(m *model, msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Cancel), msg.String() == "n":
		m.dialog = nil
	case key.Matches(msg, m.keys.KeepData):
		d.deleteData = false
	case key.Matches(msg, m.keys.DeleteData):
		d.deleteData = true
	case key.Matches(msg, m.keys.Field), msg.String() == "left", msg.String() == "right", msg.String() == "h", msg.String() == "l":
		d.deleteData = !d.deleteData
	case key.Matches(msg, m.keys.Submit), msg.String() == "y":
		m.dialog = nil
		return m.removeCmd(d.torrents, d.deleteData)
	}
	return nil
}

func (d *removeDialog) view(width int) string {
	w := dialogWidth(width)
	keep, del := " Keep data ", " Delete data "
	if d.deleteData {
		del = styleButtonOn.Render("[" + strings.TrimSpace(del) + "]")
		keep = " " + keep + " "
	} else {
		keep = styleButtonOn.Render("[" + strings.TrimSpace(keep) + "]")
		del = " " + del + " "
	}
	lines := []string{
		styleTitle.Render("Remove torrent"),
		truncate(what(d.torrents), w-4),
		"",
		keep + "  " + del,
	}
	if d.deleteData {
		lines = append(lines, styleErr.Render("Downloaded files will be deleted from disk."))
	} else {
		lines = append(lines, styleDim.Render("Downloaded files stay on disk."))
	}
	return styleDialog.Width(w).Render(strings.Join(lines, "\n"))
}

func (d *removeDialog) help(k keyMap) helpKeys {
	return k.dialogHelp(k.KeepData, k.DeleteData, k.Submit, k.Cancel)
}

// limitsDialog edits rate limits in KiB/s (0 or empty = none): the global
// ones with the alternative pair, or one torrent's when torrents is set,
// with the upload ratio at which the engine stops seeding it.
type limitsDialog struct {
	inputs   []textinput.Model // down, up, then alt down, alt up or ratio
	focus    int
	err      string
	torrents []client.Stats // a torrent's own limits, or nil: the global ones
	goal     client.SeedGoal
}

func newLimitsDialog(down, up int64) *limitsDialog {
	d := &limitsDialog{}
	for i, v := range []int64{down, up} {
		ti := newField([]string{"download KiB/s: ", "upload   KiB/s: "}[i])
		if v > 0 {
			ti.SetValue(strconv.FormatInt(v/1024, 10))
		}
		d.inputs = append(d.inputs, ti)
	}
	d.inputs[0].Focus()
	return d
}

func newSpeedsDialog(s speeds) *limitsDialog {
	d := newLimitsDialog(s.Down, s.Up)
	for i, v := range []int64{s.AltDown, s.AltUp} {
		ti := newField([]string{"alt down KiB/s: ", "alt up   KiB/s: "}[i])
		if v > 0 {
			ti.SetValue(strconv.FormatInt(v/1024, 10))
		}
		d.inputs = append(d.inputs, ti)
	}
	return d
}

func newTorrentLimitsDialog(ts []client.Stats, down, up int64, goal client.SeedGoal) *limitsDialog {
	d := newLimitsDialog(down, up)
	d.torrents, d.goal = ts, goal
	ti := newField("seed to ratio:  ")
	if goal.RatioMode == client.GoalOwn {
		ti.SetValue(strconv.FormatFloat(goal.Ratio, 'g', -1, 64))
	}
	d.inputs = append(d.inputs, ti)
	return d
}

func newField(prompt string) textinput.Model {
	ti := textinput.New()
	ti.Prompt = prompt
	ti.CharLimit = 12
	ti.Width = 16
	return ti
}

// parseRatio reads the seeding goal's ratio: empty = none of its own.
func parseRatio(s string, g client.SeedGoal) (client.SeedGoal, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		g.RatioMode, g.Ratio = client.GoalDefault, 0
		return g, nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r < 0 || r > 1e6 {
		return g, fmt.Errorf("%q is not a ratio (e.g. 2 or 0.5; empty = keep seeding)", s)
	}
	g.RatioMode, g.Ratio = client.GoalOwn, r
	return g, nil
}

// parseKiB reads a rate: a bare number is KiB/s, one with a unit is as
// the command line takes it (800k, 5M, 5MiB).
func parseKiB(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n <= 1<<40 {
		return n * 1024, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n > 1<<50 {
		return 0, fmt.Errorf("%q is not a rate: a number of KiB/s, or with a unit (800k, 5M, 5MiB); 0 = unlimited", s)
	}
	return int64(n), nil
}

func (d *limitsDialog) update(m *model, msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Cancel):
		m.dialog = nil
		return nil
	case key.Matches(msg, m.keys.Field):
		d.inputs[d.focus].Blur()
		d.focus = (d.focus + 1) % len(d.inputs)
		return d.inputs[d.focus].Focus()
	case key.Matches(msg, m.keys.Submit):
		down, err := parseKiB(d.inputs[0].Value())
		if err != nil {
			d.err = "download: " + err.Error()
			return nil
		}
		up, err := parseKiB(d.inputs[1].Value())
		if err != nil {
			d.err = "upload: " + err.Error()
			return nil
		}
		if d.torrents != nil {
			goal, err := parseRatio(d.inputs[2].Value(), d.goal)
			if err != nil {
				d.err = "ratio: " + err.Error()
				return nil
			}
			m.dialog = nil
			return m.torrentLimitsCmd(d.torrents, down, up, goal)
		}
		altDown, err := parseKiB(d.inputs[2].Value())
		if err != nil {
			d.err = "alt download: " + err.Error()
			return nil
		}
		altUp, err := parseKiB(d.inputs[3].Value())
		if err != nil {
			d.err = "alt upload: " + err.Error()
			return nil
		}
		m.dialog = nil
		s := speeds{Down: down, Up: up, AltDown: altDown, AltUp: altUp, Alt: m.speeds.Alt}
		text := fmt.Sprintf("speed limits: down %s, up %s; alternative: down %s, up %s",
			limitText(down), limitText(up), limitText(altDown), limitText(altUp))
		return m.setSpeedsCmd(s, text)
	}
	var cmd tea.Cmd
	d.inputs[d.focus], cmd = d.inputs[d.focus].Update(msg)
	return cmd
}

func (d *limitsDialog) view(width int) string {
	w := min(dialogWidth(width), 50)
	title := "Speed limits (all torrents)"
	if d.torrents != nil {
		title = "Limits for " + what(d.torrents)
	}
	lines := []string{styleTitle.Render(lipgloss.NewStyle().MaxWidth(w - 4).Render(title))}
	for _, in := range d.inputs {
		lines = append(lines, in.View())
	}
	switch {
	case d.err != "":
		lines = append(lines, styleErr.Render(lipgloss.NewStyle().Width(w-4).Render(d.err)))
	case d.torrents != nil:
		lines = append(lines, styleDim.Render("0 or empty = unlimited; empty ratio = keep seeding"))
	default:
		lines = append(lines, styleDim.Render("0 or empty = unlimited; t switches to the alternative pair"))
	}
	return styleDialog.Width(w).Render(strings.Join(lines, "\n"))
}

func (d *limitsDialog) help(k keyMap) helpKeys { return k.dialogHelp(k.Field, k.Submit, k.Cancel) }
