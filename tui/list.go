package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"

	"github.com/wgtorrent/wgtorrent/client"
)

type sortKey int

const (
	sortName sortKey = iota
	sortSize
	sortProgress
	sortState
	sortDown
	sortUp
	sortPeers
	sortETA
	sortRatio
	sortAdded
	numSortKeys
)

var sortNames = [numSortKeys]string{"name", "size", "progress", "state", "down", "up", "peers", "eta", "ratio", "added"}

func (k sortKey) String() string { return sortNames[k] }

// torrentList is the main table: filtered, sorted, with a cursor that
// follows the selected torrent across refreshes.
type torrentList struct {
	all      []client.Stats
	rows     []client.Stats
	cursor   int
	offset   int
	selected client.TorrentID

	sortBy sortKey
	desc   bool

	filter    textinput.Model
	filtering bool // the filter input has focus

	// marked torrents: the actions apply to them when there are any.
	marked map[client.TorrentID]bool
}

func newTorrentList() torrentList {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "name or state"
	ti.CharLimit = 200
	return torrentList{filter: ti}
}

func (l *torrentList) setStats(all []client.Stats) {
	l.all = all
	for id := range l.marked {
		if !slices.ContainsFunc(all, func(s client.Stats) bool { return s.ID == id }) {
			delete(l.marked, id) // removed
		}
	}
	l.rebuild()
}

// toggleMark marks or unmarks the row under the cursor and moves down, so
// that Space Space Space marks three rows.
func (l *torrentList) toggleMark() {
	s, ok := l.current()
	if !ok {
		return
	}
	if l.marked == nil {
		l.marked = map[client.TorrentID]bool{}
	}
	if l.marked[s.ID] {
		delete(l.marked, s.ID)
	} else {
		l.marked[s.ID] = true
	}
	l.move(1)
}

// markAll marks every row shown (after a filter, those it shows); with
// all of them marked already, it clears the marks.
func (l *torrentList) markAll() {
	if l.marked == nil {
		l.marked = map[client.TorrentID]bool{}
	}
	all := true
	for _, s := range l.rows {
		all = all && l.marked[s.ID]
	}
	if all {
		clear(l.marked)
		return
	}
	for _, s := range l.rows {
		l.marked[s.ID] = true
	}
}

// markedStats is the marked torrents in the order shown, then those a
// filter hides.
func (l *torrentList) markedStats() []client.Stats {
	var out []client.Stats
	for _, s := range l.rows {
		if l.marked[s.ID] {
			out = append(out, s)
		}
	}
	for _, s := range l.all {
		if l.marked[s.ID] && !slices.ContainsFunc(out, func(o client.Stats) bool { return o.ID == s.ID }) {
			out = append(out, s)
		}
	}
	return out
}

// rebuild applies filter and sort and puts the cursor back on the selected
// torrent when it is still shown.
func (l *torrentList) rebuild() {
	q := strings.ToLower(strings.TrimSpace(l.filter.Value()))
	l.rows = l.rows[:0]
	for _, s := range l.all {
		if q == "" || strings.Contains(strings.ToLower(s.Name), q) || strings.Contains(string(s.State), q) ||
			(len(s.Warnings) > 0 && strings.Contains("suspicious", q)) {
			l.rows = append(l.rows, s)
		}
	}
	slices.SortStableFunc(l.rows, func(a, b client.Stats) int {
		c := compareBy(l.sortBy, a, b)
		if l.desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
		}
		return c
	})
	l.cursor = min(l.cursor, max(len(l.rows)-1, 0))
	for i, s := range l.rows {
		if s.ID == l.selected {
			l.cursor = i
			break
		}
	}
	l.syncSelected()
}

func compareBy(k sortKey, a, b client.Stats) int {
	switch k {
	case sortSize:
		return cmp.Compare(a.Length, b.Length)
	case sortProgress:
		return cmp.Compare(fraction(a.Have(), a.Length), fraction(b.Have(), b.Length))
	case sortState:
		return cmp.Compare(a.State, b.State)
	case sortDown:
		return cmp.Compare(a.DownloadRate, b.DownloadRate)
	case sortUp:
		return cmp.Compare(a.UploadRate, b.UploadRate)
	case sortPeers:
		return cmp.Compare(a.PeersConnected, b.PeersConnected)
	case sortETA:
		// Unknown ETAs (-1) go last.
		ea, eb := a.ETA, b.ETA
		if ea < 0 {
			ea = 1 << 62
		}
		if eb < 0 {
			eb = 1 << 62
		}
		return cmp.Compare(ea, eb)
	case sortRatio:
		return cmp.Compare(a.Ratio, b.Ratio)
	case sortAdded:
		return a.AddedAt.Compare(b.AddedAt)
	}
	return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
}

func (l *torrentList) syncSelected() {
	if l.cursor >= 0 && l.cursor < len(l.rows) {
		l.selected = l.rows[l.cursor].ID
	}
}

func (l *torrentList) current() (client.Stats, bool) {
	if l.cursor < 0 || l.cursor >= len(l.rows) {
		return client.Stats{}, false
	}
	return l.rows[l.cursor], true
}

func (l *torrentList) move(delta int) {
	if len(l.rows) == 0 {
		return
	}
	l.cursor = min(max(l.cursor+delta, 0), len(l.rows)-1)
	l.syncSelected()
}

func (l *torrentList) selectID(id client.TorrentID) {
	l.selected = id
	l.rebuild()
}

// column of the torrent table. Columns with a lower keep value are dropped
// first when the terminal is narrow; the name takes what is left.
type column struct {
	title string
	width int
	keep  int
	sort  sortKey
	right bool
	cell  func(s client.Stats, w int) string
}

var listColumns = []column{
	{"Size", 8, 3, sortSize, true, func(s client.Stats, _ int) string {
		if s.Length == 0 {
			return "?"
		}
		return humanBytes(s.Length)
	}},
	{"Progress", 13, 9, sortProgress, false, func(s client.Stats, w int) string {
		return progressBar(fraction(s.Have(), s.Length), w)
	}},
	{"State", 11, 8, sortState, false, func(s client.Stats, _ int) string {
		txt := string(s.State)
		switch {
		case s.State == client.StateError && s.Error != "":
			txt += ": " + s.Error
		case s.State == client.StatePaused && s.Finished:
			txt = "finished" // stopped at its seeding goal
		case s.State == client.StatePaused && s.Held != "":
			txt = "held" // for its suspicious files
		}
		return txt
	}},
	{"Down", 10, 7, sortDown, true, func(s client.Stats, _ int) string { return humanRate(s.DownloadRate) }},
	{"Up", 10, 6, sortUp, true, func(s client.Stats, _ int) string { return humanRate(s.UploadRate) }},
	{"Peers", 7, 2, sortPeers, true, func(s client.Stats, _ int) string {
		return fmt.Sprintf("%d/%d", s.PeersConnected, s.PeersKnown)
	}},
	{"ETA", 6, 4, sortETA, true, func(s client.Stats, _ int) string {
		if s.State == client.StateSeeding {
			return "done"
		}
		return humanDuration(s.ETA)
	}},
	{"Ratio", 5, 1, sortRatio, true, func(s client.Stats, _ int) string { return fmt.Sprintf("%.2f", s.Ratio) }},
}

const minNameWidth = 20

// layout picks the columns that fit and the width left for the name.
func layoutColumns(width int) ([]column, int) {
	cols := slices.Clone(listColumns)
	nameW := func() int {
		w := width - 2 // cursor marker
		for _, c := range cols {
			w -= c.width + 1
		}
		return w
	}
	for nameW() < minNameWidth && len(cols) > 0 {
		drop := 0
		for i, c := range cols {
			if c.keep < cols[drop].keep {
				drop = i
			}
		}
		cols = slices.Delete(cols, drop, drop+1)
	}
	return cols, max(nameW(), 1)
}

func (l *torrentList) view(width, height int) []string {
	if height <= 0 {
		return nil
	}
	arrow := "▲"
	if l.desc {
		arrow = "▼"
	}
	title := styleTitle.Render(fmt.Sprintf("Torrents %d", len(l.rows)))
	if len(l.rows) != len(l.all) {
		title = styleTitle.Render(fmt.Sprintf("Torrents %d of %d", len(l.rows), len(l.all)))
	}
	info := []string{title, styleDim.Render("sort: " + l.sortBy.String() + " " + arrow)}
	if n := len(l.marked); n > 0 {
		info = append(info, styleTitle.Render(fmt.Sprintf("%d marked", n)))
	}
	switch {
	case l.filtering:
		info = append(info, l.filter.View())
	case l.filter.Value() != "":
		info = append(info, styleDim.Render("filter: "+l.filter.Value()))
	}
	lines := []string{truncate(strings.Join(info, "   "), width)}
	if height == 1 {
		return lines
	}

	cols, nameW := layoutColumns(width)
	head := "  " + l.headCell("Name", nameW, sortName, false, arrow)
	for _, c := range cols {
		head += " " + l.headCell(c.title, c.width, c.sort, c.right, arrow)
	}
	lines = append(lines, styleColHead.Render(truncate(head, width)))

	rowsH := height - 2
	if len(l.rows) == 0 {
		msg := "No torrents yet. Press a to add a magnet link or a .torrent file."
		if len(l.all) > 0 {
			msg = fmt.Sprintf("No torrent matches %q. Press / then esc to clear the filter.", l.filter.Value())
		}
		return append(lines, styleDim.Render(truncate(msg, width)))
	}
	l.offset = scrollOffset(l.cursor, l.offset, rowsH, len(l.rows))
	for i := l.offset; i < len(l.rows) && i < l.offset+rowsH; i++ {
		s := l.rows[i]
		row := fit(listName(s), nameW)
		for _, c := range cols {
			txt := c.cell(s, c.width)
			if c.right {
				txt = fitRight(txt, c.width)
			} else {
				txt = fit(txt, c.width)
			}
			if c.title == "State" && i != l.cursor {
				txt = stateStyle(s.State).Render(txt)
			}
			row += " " + txt
		}
		mark := " "
		if l.marked[s.ID] {
			mark = "*"
		}
		if i == l.cursor {
			lines = append(lines, styleSelected.Render(fit("›"+mark+row, width)))
		} else {
			lines = append(lines, truncate(" "+mark+row, width))
		}
	}
	return lines
}

// suspectMark precedes the name of a torrent with suspicious files
// (Stats.Warnings); the detail view says which and why.
const suspectMark = "! "

func listName(s client.Stats) string {
	if len(s.Warnings) > 0 {
		return suspectMark + s.Name
	}
	return s.Name
}

func (l *torrentList) headCell(title string, w int, k sortKey, right bool, arrow string) string {
	if k == l.sortBy {
		title += arrow
	}
	if right {
		return fitRight(title, w)
	}
	return fit(title, w)
}

// scrollOffset keeps cursor inside a window of h rows out of n.
func scrollOffset(cursor, offset, h, n int) int {
	if h <= 0 {
		return 0
	}
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+h {
		offset = cursor - h + 1
	}
	return min(max(offset, 0), max(n-h, 0))
}
