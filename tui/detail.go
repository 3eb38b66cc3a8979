package tui

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/wgtorrent/wgtorrent/client"
)

type tab int

const (
	tabFiles tab = iota
	tabPeers
	tabTrackers
	tabPieces
	tabInfo
	numTabs
)

var tabNames = [numTabs]string{"Files", "Peers", "Trackers", "Pieces", "Info"}

// detailView is the per-torrent screen. Its data arrives as detailMsg from
// commands that query the engine; until then a tab says it is loading.
type detailView struct {
	id  client.TorrentID
	tab tab

	files    []client.File
	fileRows []fileRow
	peers    []client.Peer
	trackers []client.Tracker
	pieces   client.Pieces
	loaded   [numTabs]bool
	err      [numTabs]string

	cursor [numTabs]int
	offset [numTabs]int
}

func (d *detailView) setData(msg detailMsg) {
	d.loaded[msg.tab] = true
	d.err[msg.tab] = ""
	if msg.err != nil {
		d.err[msg.tab] = msg.err.Error()
		return
	}
	switch msg.tab {
	case tabFiles:
		d.files = msg.files
		d.fileRows = buildFileRows(msg.files)
	case tabPeers:
		d.peers = slices.Clone(msg.peers)
		slices.SortStableFunc(d.peers, func(a, b client.Peer) int {
			return cmp.Or(cmp.Compare(b.DownRate, a.DownRate), cmp.Compare(b.UpRate, a.UpRate), a.Addr.Compare(b.Addr))
		})
	case tabTrackers:
		d.trackers = msg.trackers
	case tabPieces:
		d.pieces = msg.pieces
	}
	d.cursor[d.tab] = min(d.cursor[d.tab], max(d.rowCount()-1, 0))
}

// rowCount is the number of rows the cursor moves over in the current tab.
func (d *detailView) rowCount() int {
	switch d.tab {
	case tabFiles:
		return len(d.fileRows)
	case tabPeers:
		return len(d.peers)
	case tabTrackers:
		n := len(d.trackers) // and a line under each that has a message
		for _, t := range d.trackers {
			if trackerMessage(t) != "" {
				n++
			}
		}
		return n
	}
	return 1 << 20 // Pieces and Info scroll; the view clamps.
}

func (d *detailView) move(delta int) {
	d.cursor[d.tab] = min(max(d.cursor[d.tab]+delta, 0), max(d.rowCount()-1, 0))
}

func (d *detailView) top()    { d.cursor[d.tab] = 0 }
func (d *detailView) bottom() { d.cursor[d.tab] = max(d.rowCount()-1, 0) }

// selectedFileRow is the files-tab row under the cursor.
func (d *detailView) selectedFileRow() (fileRow, bool) {
	c := d.cursor[tabFiles]
	if d.tab != tabFiles || c < 0 || c >= len(d.fileRows) {
		return fileRow{}, false
	}
	return d.fileRows[c], true
}

// fileRow is one line of the files tree: a directory (aggregating what is
// under it) or a file.
type fileRow struct {
	depth   int
	name    string
	dir     bool
	length  int64
	done    int64
	prio    client.Priority
	mixed   bool  // a directory whose files have different priorities
	indices []int // the files this row stands for
}

type fileNode struct {
	name     string
	children map[string]*fileNode
	file     *client.File
}

// buildFileRows turns file paths into a tree, directories first, each level
// sorted by name.
func buildFileRows(files []client.File) []fileRow {
	root := &fileNode{children: map[string]*fileNode{}}
	for i := range files {
		parts := strings.Split(files[i].Path, "/")
		n := root
		for j, p := range parts {
			c, ok := n.children[p]
			if !ok {
				c = &fileNode{name: p, children: map[string]*fileNode{}}
				n.children[p] = c
			}
			if j == len(parts)-1 {
				c.file = &files[i]
			}
			n = c
		}
	}
	var rows []fileRow
	var walk func(n *fileNode, depth int) fileRow
	walk = func(n *fileNode, depth int) fileRow {
		if n.file != nil && len(n.children) == 0 {
			r := fileRow{depth: depth, name: n.name, length: n.file.Length, done: n.file.BytesCompleted,
				prio: n.file.Priority, indices: []int{n.file.Index}}
			rows = append(rows, r)
			return r
		}
		at := len(rows)
		rows = append(rows, fileRow{depth: depth, name: n.name + "/", dir: true})
		kids := make([]*fileNode, 0, len(n.children))
		for _, c := range n.children {
			kids = append(kids, c)
		}
		slices.SortFunc(kids, func(a, b *fileNode) int {
			ad, bd := len(a.children) > 0, len(b.children) > 0
			if ad != bd {
				if ad {
					return -1
				}
				return 1
			}
			return cmp.Compare(a.name, b.name)
		})
		agg := rows[at]
		for i, c := range kids {
			r := walk(c, depth+1)
			agg.length += r.length
			agg.done += r.done
			agg.indices = append(agg.indices, r.indices...)
			if i == 0 {
				agg.prio, agg.mixed = r.prio, r.mixed
			} else if r.prio != agg.prio || r.mixed {
				agg.mixed = true
			}
		}
		rows[at] = agg
		return agg
	}
	kids := make([]string, 0, len(root.children))
	for name := range root.children {
		kids = append(kids, name)
	}
	slices.Sort(kids)
	for _, k := range kids {
		walk(root.children[k], 0)
	}
	return rows
}

// nextPriority cycles normal → high → skip → normal.
func nextPriority(p client.Priority, mixed bool) client.Priority {
	if mixed {
		return client.PriorityNormal
	}
	switch p {
	case client.PriorityNormal:
		return client.PriorityHigh
	case client.PriorityHigh:
		return client.PriorityOff
	}
	return client.PriorityNormal
}

func prioLabel(p client.Priority, mixed bool) string {
	switch {
	case mixed:
		return "mixed"
	case p == client.PriorityOff:
		return "skip"
	}
	return p.String()
}

// setLocalPriority shows a priority change before the engine confirms it.
func (d *detailView) setLocalPriority(indices []int, p client.Priority) {
	for i := range d.files {
		if slices.Contains(indices, d.files[i].Index) {
			d.files[i].Priority = p
		}
	}
	d.fileRows = buildFileRows(d.files)
}

func magnetLink(s client.Stats) string {
	m := "magnet:?xt=urn:btih:" + string(s.ID)
	if s.Name != "" {
		m += "&dn=" + url.QueryEscape(s.Name)
	}
	return m
}

func (d *detailView) view(width, height int, s client.Stats, now time.Time) []string {
	if height <= 0 {
		return nil
	}
	head := styleTitle.Render(nameOf(s)) + "  " + stateStyle(s.State).Render(string(s.State)) + "  " +
		strings.TrimSpace(percent(fraction(s.Have(), s.Length)))
	if n := len(s.Warnings); n > 0 {
		head += "  " + styleWarn.Render(fmt.Sprintf("! %d suspicious file(s): see Info", n))
	}
	lines := []string{truncate(head, width)}
	var tabs []string
	for t := range numTabs {
		if t == d.tab {
			tabs = append(tabs, styleTabOn.Render("["+tabNames[t]+"]"))
		} else {
			tabs = append(tabs, styleTabOff.Render(" "+tabNames[t]+" "))
		}
	}
	lines = append(lines, truncate(strings.Join(tabs, " "), width))
	h := height - 2
	if h <= 0 {
		return lines[:height]
	}
	if d.err[d.tab] != "" {
		return append(lines, styleErr.Render(truncate(d.err[d.tab], width)))
	}
	if !d.loaded[d.tab] && d.tab != tabInfo {
		return append(lines, styleDim.Render("loading…"))
	}
	switch d.tab {
	case tabFiles:
		lines = append(lines, d.filesView(width, h, s.Warnings)...)
	case tabPeers:
		lines = append(lines, d.peersView(width, h)...)
	case tabTrackers:
		lines = append(lines, d.trackersView(width, h, now)...)
	case tabPieces:
		lines = append(lines, d.scroll(d.piecesLines(width, h), h)...)
	case tabInfo:
		lines = append(lines, d.scroll(infoLines(s, width, now), h)...)
	}
	return lines
}

// scroll shows h lines of a text, starting at the tab's cursor.
func (d *detailView) scroll(all []string, h int) []string {
	start := min(d.cursor[d.tab], max(len(all)-h, 0))
	d.cursor[d.tab] = start
	return all[start:min(start+h, len(all))]
}

// table renders a header and the rows around the tab's cursor.
func (d *detailView) table(width, h int, header string, rows []string, empty string) []string {
	out := []string{styleColHead.Render(truncate(header, width))}
	if len(rows) == 0 {
		return append(out, styleDim.Render(truncate(empty, width)))
	}
	n := h - 1
	c := d.cursor[d.tab]
	d.offset[d.tab] = scrollOffset(c, d.offset[d.tab], n, len(rows))
	for i := d.offset[d.tab]; i < len(rows) && i < d.offset[d.tab]+n; i++ {
		if i == c {
			out = append(out, styleSelected.Render(fit("› "+rows[i], width)))
		} else {
			out = append(out, truncate("  "+rows[i], width))
		}
	}
	return out
}

func (d *detailView) filesView(width, h int, warnings []client.Warning) []string {
	flagged := map[int]bool{}
	for _, w := range warnings {
		flagged[w.File] = true
	}
	const sizeW, progW, prioW = 8, 13, 6
	nameW := max(width-2-3-sizeW-progW-prioW, 8)
	header := "  " + fit("Name", nameW) + " " + fitRight("Size", sizeW) + " " + fit("Progress", progW) + " " + fit("Prio", prioW)
	rows := make([]string, len(d.fileRows))
	for i, r := range d.fileRows {
		name := strings.Repeat("  ", r.depth) + r.name
		if !r.dir && slices.ContainsFunc(r.indices, func(ix int) bool { return flagged[ix] }) {
			name = strings.Repeat("  ", r.depth) + suspectMark + r.name
		}
		prio := prioLabel(r.prio, r.mixed)
		rows[i] = fit(name, nameW) + " " + fitRight(humanBytes(r.length), sizeW) + " " +
			fit(progressBar(fraction(r.done, r.length), progW), progW) + " " + fit(prio, prioW)
	}
	return d.table(width, h, header, rows, "No files yet (waiting for metadata).")
}

func (d *detailView) peersView(width, h int) []string {
	const addrW, flagsW, rateW, haveW = 22, 5, 10, 4
	clientW := max(width-2-5-addrW-flagsW-2*rateW-haveW, 6)
	header := "  " + fit("Address", addrW) + " " + fit("Client", clientW) + " " + fit("Flags", flagsW) + " " +
		fitRight("Down", rateW) + " " + fitRight("Up", rateW) + " " + fitRight("Have", haveW)
	rows := make([]string, len(d.peers))
	for i, p := range d.peers {
		rows[i] = fit(p.Addr.String(), addrW) + " " + fit(p.Client, clientW) + " " + fit(p.Flags, flagsW) + " " +
			fitRight(humanRate(p.DownRate), rateW) + " " + fitRight(humanRate(p.UpRate), rateW) + " " +
			fitRight(percent(p.Progress), haveW)
	}
	return d.table(width, h, header, rows, "No peers connected.")
}

func (d *detailView) trackersView(width, h int, now time.Time) []string {
	const tierW, statusW, agoW, numW = 4, 14, 11, 5
	urlW := max(width-2-7-tierW-statusW-2*agoW-3*numW, 10)
	header := "  " + fit("URL", urlW) + " " + fitRight("Tier", tierW) + " " + fit("Last result", statusW) + " " +
		fit("Announced", agoW) + " " + fit("Next", agoW) + " " + fitRight("Seeds", numW) + " " +
		fitRight("Leech", numW) + " " + fitRight("Done", numW)
	count := func(n int) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	var rows []string
	for _, t := range d.trackers {
		rows = append(rows, fit(t.URL, urlW)+" "+fitRight(fmt.Sprint(t.Tier), tierW)+" "+fit(trackerResult(t), statusW)+" "+
			fit(ago(now, t.LastAnnounce), agoW)+" "+fit(until(now, t.NextAnnounce), agoW)+" "+
			fitRight(count(t.Seeders), numW)+" "+fitRight(count(t.Leechers), numW)+" "+fitRight(count(t.Downloaded), numW))
		// The tracker's own words, whole: a refusal is what the user must read.
		if msg := trackerMessage(t); msg != "" {
			rows = append(rows, styleDim.Render(truncate("  "+msg, width-2)))
		}
	}
	return d.table(width, h, header, rows, "No trackers (DHT and PEX only).")
}

// trackerResult is the short outcome of a tracker's last announce.
func trackerResult(t client.Tracker) string {
	switch t.Status {
	case client.TrackerWorking, client.TrackerIdle:
		if t.Peers == 1 {
			return "ok, 1 peer"
		}
		return fmt.Sprintf("ok, %d peers", t.Peers)
	case client.TrackerFailed:
		return "error"
	}
	return string(t.Status)
}

// trackerMessage is what a tracker said beyond its result, if anything.
func trackerMessage(t client.Tracker) string {
	switch {
	case t.Err != "":
		return "error: " + t.Err
	case t.Warning != "":
		return "warning: " + t.Warning
	case t.ScrapeErr != "":
		return "scrape: " + t.ScrapeErr
	}
	return ""
}

func (d *detailView) piecesLines(width, h int) []string {
	p := d.pieces
	if p.Count == 0 {
		return []string{styleDim.Render("No piece information yet (waiting for metadata).")}
	}
	lines := []string{fmt.Sprintf("%d pieces, %d verified (%s)", p.Count, p.Complete,
		strings.TrimSpace(percent(fraction(int64(p.Complete), int64(p.Count)))))}
	mapRows := max(h-2, 1)
	cells := min(p.Count, width*mapRows)
	var b strings.Builder
	grouped := cells < p.Count
	for c := range cells {
		lo, hi := c*p.Count/cells, (c+1)*p.Count/cells
		have := 0
		for i := lo; i < hi; i++ {
			if p.Has(i) {
				have++
			}
		}
		switch {
		case have == hi-lo:
			b.WriteString(styleOK.Render("█"))
		case have > 0:
			b.WriteString("▒")
		default:
			b.WriteString(styleDim.Render("·"))
		}
		if (c+1)%width == 0 || c == cells-1 {
			lines = append(lines, b.String())
			b.Reset()
		}
	}
	legend := "█ verified  · missing"
	if grouped {
		legend = fmt.Sprintf("█ verified  ▒ partly  · missing   (one cell ≈ %d pieces)", (p.Count+cells-1)/cells)
	}
	return append(lines, styleDim.Render(truncate(legend, width)))
}

func infoLines(s client.Stats, width int, now time.Time) []string {
	const keyW = 12
	valW := max(width-keyW, 10)
	var lines []string
	add := func(k, v string) {
		for i, part := range strings.Split(ansi.Wrap(v, valW, ""), "\n") {
			if i == 0 {
				lines = append(lines, styleDim.Render(fit(k, keyW))+part)
			} else {
				lines = append(lines, strings.Repeat(" ", keyW)+part)
			}
		}
	}
	yesNo := map[bool]string{true: "yes", false: "no"}
	add("Name", s.Name)
	add("Info hash", string(s.ID))
	add("Magnet", magnetLink(s))
	add("Save path", s.DownloadDir)
	add("State", string(s.State))
	if s.Error != "" {
		add("Error", s.Error)
	}
	if s.Held != "" {
		add("Held", s.Held)
	}
	// Which files are not what their names say, and why: the whole
	// reason, wrapped.
	for _, w := range s.Warnings {
		add("Suspicious", w.Path+": "+w.Reason)
	}
	add("Size", fmt.Sprintf("%s (%s done)", humanBytes(s.Length), strings.TrimSpace(percent(fraction(s.Have(), s.Length)))))
	add("Downloaded", humanBytes(s.Downloaded))
	add("Uploaded", humanBytes(s.Uploaded))
	add("Ratio", fmt.Sprintf("%.2f", s.Ratio))
	add("Peers", fmt.Sprintf("%d connected of %d known (%d seeders, %d leechers)", s.PeersConnected, s.PeersKnown, s.Seeders, s.Leechers))
	add("Added", ago(now, s.AddedAt))
	if !s.DoneAt.IsZero() {
		add("Completed", ago(now, s.DoneAt))
	}
	add("Sequential", yesNo[s.Sequential])
	return lines
}
