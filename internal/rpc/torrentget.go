package rpc

import (
	"context"
	"encoding/base64"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/wgtorrent/wgtorrent/client"
)

// Transmission's tr_torrent_activity values.
const (
	statusStopped      = 0
	statusCheckWait    = 1
	statusChecking     = 2
	statusDownloadWait = 3
	statusDownloading  = 4
	statusSeedWait     = 5
	statusSeeding      = 6
)

// recentWindow is how far back "recently-active" looks.
const recentWindow = 60 * time.Second

func status(st client.State) int {
	switch st {
	case client.StatePaused, client.StateError:
		return statusStopped
	case client.StateChecking:
		return statusChecking
	case client.StateSeeding:
		return statusSeeding
	default: // metadata, downloading, stalled
		return statusDownloading
	}
}

func (s *Server) recentlyActive(t client.Stats, cut time.Time) bool {
	switch t.State {
	case client.StateChecking, client.StateMetadata, client.StateDownloading:
		return true
	}
	return t.AddedAt.After(cut) || t.LastActive.After(cut)
}

// view computes one torrent's fields, asking the engine for files, peers,
// trackers and pieces only when a requested field needs them.
type view struct {
	s  *Server
	t  client.Stats
	ts *torrentState
	qp int

	files    []client.File
	peers    []client.Peer
	trackers []client.Tracker
	pieces   client.Pieces
	// got says which of the four above were asked for.
	gotFiles, gotPeers, gotTrackers, gotPieces bool
}

func (v *view) loadFiles() []client.File {
	if !v.gotFiles {
		v.gotFiles = true
		v.files, _ = v.s.engine.Files(v.t.ID) // none yet for a magnet
	}
	return v.files
}

func (v *view) loadPeers() []client.Peer {
	if !v.gotPeers {
		v.gotPeers = true
		v.peers, _ = v.s.engine.Peers(v.t.ID)
	}
	return v.peers
}

func (v *view) loadTrackers() []client.Tracker {
	if !v.gotTrackers {
		v.gotTrackers = true
		v.trackers, _ = v.s.engine.Trackers(v.t.ID)
	}
	return v.trackers
}

func (v *view) loadPieces() client.Pieces {
	if !v.gotPieces {
		v.gotPieces = true
		v.pieces, _ = v.s.engine.Pieces(v.t.ID)
	}
	return v.pieces
}

// sizes returns sizeWhenDone and leftUntilDone: the wanted files only.
func (v *view) sizes() (size, left int64) {
	files := v.loadFiles()
	if len(files) == 0 {
		return v.t.Length, max(0, v.t.Length-v.t.Have())
	}
	for _, f := range files {
		if f.Priority == client.PriorityOff {
			continue
		}
		size += f.Length
		left += max(0, f.Length-f.BytesCompleted)
	}
	return size, left
}

func (v *view) percentDone() float64 {
	size, left := v.sizes()
	if size <= 0 {
		return 0
	}
	return float64(size-left) / float64(size)
}

func (v *view) pieceSize() int64 {
	p := v.loadPieces()
	if p.Count <= 0 || v.t.Length <= 0 {
		return 0
	}
	n := int64(p.Count)
	exact := (v.t.Length + n - 1) / n
	// Piece sizes are nearly always powers of two; the last piece is short.
	pow := int64(16 << 10)
	for pow < exact {
		pow <<= 1
	}
	if (n-1)*pow < v.t.Length && v.t.Length <= n*pow {
		return pow
	}
	return exact
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (v *view) magnet() string {
	q := "magnet:?xt=urn:btih:" + string(v.t.ID)
	if v.t.Name != "" {
		q += "&dn=" + url.QueryEscape(v.t.Name)
	}
	for _, tr := range v.loadTrackers() {
		q += "&tr=" + url.QueryEscape(tr.URL)
	}
	return q
}

func (v *view) name() string {
	if v.t.Name != "" {
		return v.t.Name
	}
	return string(v.t.ID)
}

func (v *view) secondsDownloading(now time.Time) int64 {
	// The engine does not count active time; wall time since adding
	// (until done) is the closest measure.
	end := now
	if !v.t.DoneAt.IsZero() {
		end = v.t.DoneAt
	}
	if v.t.AddedAt.IsZero() || end.Before(v.t.AddedAt) {
		return 0
	}
	return int64(end.Sub(v.t.AddedAt) / time.Second)
}

func (v *view) secondsSeeding(now time.Time) int64 {
	if v.t.DoneAt.IsZero() || now.Before(v.t.DoneAt) {
		return 0
	}
	return int64(now.Sub(v.t.DoneAt) / time.Second)
}

func (v *view) peersSending() (n int) {
	for _, p := range v.loadPeers() {
		if p.DownRate > 0 {
			n++
		}
	}
	return n
}

func (v *view) peersGetting() (n int) {
	for _, p := range v.loadPeers() {
		if p.UpRate > 0 {
			n++
		}
	}
	return n
}

// kBLimit is a per-torrent limit as Transmission shows it: the one in force
// (bytes/s in the engine) in kB/s, else the one last set while off.
func kBLimit(inForce, kept int64) int64 {
	switch {
	case inForce > 0:
		return inForce / 1000
	case kept == 0:
		return 100 // Transmission's default for a torrent's own limit
	}
	return kept
}

func (v *view) isFinished() bool {
	_, left := v.sizes()
	return (v.t.Finished || v.ts.Finished) && left == 0 && v.t.State == client.StatePaused
}

// field returns the value of one torrent-get field; ok is false for names
// we do not know (Transmission ignores those).
func (v *view) field(name string, now time.Time) (any, bool) {
	t := v.t
	switch name {
	case "id":
		return v.ts.ID, true
	case "hashString":
		return string(t.ID), true
	case "name":
		return v.name(), true
	case "status":
		return status(t.State), true
	case "percentDone":
		return v.percentDone(), true
	case "percentComplete":
		if t.Length <= 0 {
			return 0.0, true
		}
		return float64(t.Have()) / float64(t.Length), true
	case "totalSize":
		return t.Length, true
	case "sizeWhenDone":
		size, _ := v.sizes()
		return size, true
	case "leftUntilDone":
		_, left := v.sizes()
		return left, true
	case "desiredAvailable":
		_, left := v.sizes()
		return left, true
	case "haveValid":
		return t.BytesCompleted, true
	case "haveUnchecked":
		return t.BytesUnchecked, true
	case "corruptEver":
		return 0, true
	case "rateDownload":
		return t.DownloadRate, true
	case "rateUpload":
		return t.UploadRate, true
	case "eta":
		if t.ETA < 0 || t.State != client.StateDownloading {
			return -1, true // TR_ETA_NOT_AVAIL
		}
		return int64(t.ETA / time.Second), true
	case "etaIdle":
		return -1, true
	case "uploadRatio":
		if t.Uploaded == 0 && t.Downloaded == 0 && t.BytesCompleted == 0 {
			return -1, true // Transmission's "not applicable": nothing to divide by
		}
		return t.Ratio, true
	case "peersConnected":
		return t.PeersConnected, true
	case "peersSendingToUs":
		return v.peersSending(), true
	case "peersGettingFromUs":
		return v.peersGetting(), true
	case "peersFrom":
		return map[string]int{"fromCache": 0, "fromDht": 0, "fromIncoming": 0, "fromLpd": 0, "fromLtep": 0, "fromPex": 0, "fromTracker": 0}, true
	case "downloadDir":
		if t.DownloadDir != "" {
			return t.DownloadDir, true
		}
		return v.s.downloadDir(), true
	case "error":
		if t.Error != "" {
			return 3, true // TR_STAT_LOCAL_ERROR
		}
		return 0, true
	case "errorString":
		return t.Error, true
	case "addedDate":
		return unix(t.AddedAt), true
	case "startDate":
		return unix(t.AddedAt), true
	case "doneDate":
		return unix(t.DoneAt), true
	case "activityDate":
		last := t.LastActive
		if last.IsZero() {
			last = t.AddedAt
		}
		return unix(last), true
	case "dateCreated", "editDate":
		return 0, true
	case "manualAnnounceTime":
		return -1, true // as Transmission before any manual announce
	case "labels":
		return labels(v.ts.Labels, t), true
	case "wgtorrentWarnings":
		return warningsText(t), true
	case "files":
		files := v.loadFiles()
		out := make([]map[string]any, len(files))
		for i, f := range files {
			out[i] = map[string]any{"name": f.Path, "length": f.Length, "bytesCompleted": f.BytesCompleted}
		}
		return out, true
	case "fileStats":
		files := v.loadFiles()
		out := make([]map[string]any, len(files))
		for i, f := range files {
			out[i] = map[string]any{"bytesCompleted": f.BytesCompleted, "wanted": f.Priority != client.PriorityOff, "priority": trPriority(f.Priority)}
		}
		return out, true
	case "fileCount":
		return len(v.loadFiles()), true
	case "priorities":
		files := v.loadFiles()
		out := make([]int, len(files))
		for i, f := range files {
			out[i] = trPriority(f.Priority)
		}
		return out, true
	case "wanted":
		// Integers, as Transmission 3 sends them; 4.x clients accept both.
		files := v.loadFiles()
		out := make([]int, len(files))
		for i, f := range files {
			if f.Priority != client.PriorityOff {
				out[i] = 1
			}
		}
		return out, true
	case "trackers":
		trs := v.loadTrackers()
		out := make([]map[string]any, len(trs))
		for i, tr := range trs {
			out[i] = map[string]any{"announce": tr.URL, "id": i, "scrape": client.ScrapeURL(tr.URL), "tier": tr.Tier, "sitename": siteName(tr.URL)}
		}
		return out, true
	case "trackerList":
		out := ""
		last := -1
		for i, tr := range v.loadTrackers() {
			if i > 0 {
				if tr.Tier != last {
					out += "\n"
				}
				out += "\n"
			}
			out += tr.URL
			last = tr.Tier
		}
		return out, true
	case "trackerStats":
		trs := v.loadTrackers()
		out := make([]map[string]any, len(trs))
		for i, tr := range trs {
			out[i] = trackerStats(i, tr)
		}
		return out, true
	case "peers":
		ps := v.loadPeers()
		out := make([]map[string]any, len(ps))
		for i, p := range ps {
			out[i] = map[string]any{
				"address": p.Addr.Addr().String(), "port": p.Addr.Port(), "clientName": p.Client, "flagStr": p.Flags,
				"progress": p.Progress, "rateToClient": p.DownRate, "rateToPeer": p.UpRate,
				"isDownloadingFrom": p.DownRate > 0, "isUploadingTo": p.UpRate > 0,
				"clientIsChoked": p.DownRate == 0, "clientIsInterested": p.DownRate > 0,
				"peerIsChoked": p.UpRate == 0, "peerIsInterested": p.UpRate > 0,
				"isEncrypted": false, "isIncoming": p.Flags == "I", "isUTP": p.Network == "utp",
			}
		}
		return out, true
	case "webseeds":
		return []string{}, true
	case "webseedsSendingToUs":
		return 0, true
	case "isFinished":
		return v.isFinished(), true
	case "isStalled":
		return t.State == client.StateStalled, true
	case "isPrivate":
		return false, true
	case "seedRatioLimit":
		if v.t.SeedGoal.RatioMode == client.GoalDefault {
			return v.s.st.sess.SeedRatioLimit, true
		}
		return v.t.SeedGoal.Ratio, true
	case "seedRatioMode":
		return int(v.t.SeedGoal.RatioMode), true
	case "seedIdleLimit":
		if v.t.SeedGoal.IdleMode == client.GoalDefault {
			return v.s.st.sess.IdleSeedingLimit, true
		}
		return int(v.t.SeedGoal.Idle / time.Minute), true
	case "seedIdleMode":
		return int(v.t.SeedGoal.IdleMode), true
	case "downloadLimit":
		return kBLimit(t.DownloadLimit, v.ts.DownloadLimit), true
	case "downloadLimited":
		return t.DownloadLimit > 0, true
	case "uploadLimit":
		return kBLimit(t.UploadLimit, v.ts.UploadLimit), true
	case "uploadLimited":
		return t.UploadLimit > 0, true
	case "honorsSessionLimits":
		return true, true
	case "bandwidthPriority":
		return 0, true
	case "peer-limit":
		return 50, true
	case "maxConnectedPeers":
		return 50, true
	case "secondsDownloading":
		return v.secondsDownloading(now), true
	case "secondsSeeding":
		return v.secondsSeeding(now), true
	case "uploadedEver":
		return t.Uploaded, true
	case "downloadedEver":
		return t.Downloaded, true
	case "magnetLink":
		return v.magnet(), true
	case "queuePosition":
		return v.qp, true
	case "metadataPercentComplete":
		if t.State == client.StateMetadata || t.Length == 0 {
			return 0.0, true
		}
		return 1.0, true
	case "pieceCount":
		return v.loadPieces().Count, true
	case "pieceSize":
		return v.pieceSize(), true
	case "pieces":
		return base64.StdEncoding.EncodeToString(v.loadPieces().Bitmap), true
	case "recheckProgress":
		if t.State != client.StateChecking {
			return 0.0, true
		}
		p := v.loadPieces()
		if p.Count == 0 {
			return 0.0, true
		}
		return float64(p.Complete) / float64(p.Count), true
	case "torrentFile":
		return t.TorrentFile, true
	case "comment", "creator", "group":
		return "", true
	case "isSequential", "sequentialDownload":
		return t.Sequential, true
	}
	return nil, false
}

// suspiciousLabel marks a torrent with files that are not what their
// names say (client.Stats.Warnings), for clients that show labels as tags
// or a column. It is computed, never kept with the client's own labels.
const suspiciousLabel = "suspicious"

// labels are the client's own labels, then suspiciousLabel when it
// applies.
func labels(own []string, t client.Stats) []string {
	out := append([]string{}, own...)
	if len(t.Warnings) > 0 && !slices.Contains(own, suspiciousLabel) {
		out = append(out, suspiciousLabel)
	}
	return out
}

// ownLabels drops suspiciousLabel from labels a client sets on a torrent
// that has warnings: clients send back what they were shown, and that
// label is the engine's to give.
func ownLabels(labels []string, t client.Stats) []string {
	if len(t.Warnings) == 0 || !slices.Contains(labels, suspiciousLabel) {
		return labels
	}
	out := []string{}
	for _, l := range labels {
		if l != suspiciousLabel {
			out = append(out, l)
		}
	}
	return out
}

// warningsText is the wgtorrentWarnings field: like errorString, text for
// people, a line a suspicious file ("path: reason"), after why the engine
// paused the torrent if it did; "" when there is none.
func warningsText(t client.Stats) string {
	var lines []string
	if t.Held != "" {
		lines = append(lines, t.Held)
	}
	for _, w := range t.Warnings {
		lines = append(lines, w.Path+": "+w.Reason)
	}
	return strings.Join(lines, "\n")
}

// trPriority maps to TR_PRI_LOW/NORMAL/HIGH (-1/0/1); an unwanted file
// keeps normal priority, wantedness is reported apart.
func trPriority(p client.Priority) int {
	if p == client.PriorityHigh {
		return 1
	}
	return 0
}

// trackerStats is one entry of Transmission's trackerStats, from what the
// engine saw of the tracker.
func trackerStats(id int, tr client.Tracker) map[string]any {
	// Transmission's announceState: 0 inactive, 1 waiting, 3 active.
	state := 1
	switch tr.Status {
	case client.TrackerAnnouncing:
		state = 3
	case client.TrackerIdle, client.TrackerNotUsed:
		state = 0
	}
	result := ""
	switch {
	case tr.Status == client.TrackerNotUsed:
		result = "not used: WebTorrent trackers would need WebRTC"
	case tr.Err != "":
		result = tr.Err
	case !tr.LastAnnounce.IsZero():
		result = "Success"
		if tr.Warning != "" {
			result = "Success; tracker warns: " + tr.Warning
		}
	}
	return map[string]any{
		"id": id, "announce": tr.URL, "scrape": client.ScrapeURL(tr.URL), "tier": tr.Tier,
		"host": client.TrackerHost(tr.URL), "sitename": siteName(tr.URL),
		"announceState": state, "scrapeState": 1, "isBackup": false,
		"hasAnnounced": !tr.LastAnnounce.IsZero(), "lastAnnounceTime": unix(tr.LastAnnounce),
		"lastAnnounceStartTime": unix(tr.LastAnnounce), "lastAnnounceSucceeded": tr.Err == "" && !tr.LastAnnounce.IsZero(),
		"lastAnnounceTimedOut": tr.Err == "timed out", "lastAnnounceResult": result, "lastAnnouncePeerCount": tr.Peers,
		"nextAnnounceTime": unix(tr.NextAnnounce),
		"hasScraped":       !tr.LastScrape.IsZero(), "lastScrapeTime": unix(tr.LastScrape), "lastScrapeStartTime": unix(tr.LastScrape),
		"lastScrapeSucceeded": !tr.LastScrape.IsZero() && tr.ScrapeErr == "",
		"lastScrapeTimedOut":  false, "lastScrapeResult": tr.ScrapeErr, "nextScrapeTime": 0,
		"seederCount": tr.Seeders, "leecherCount": tr.Leechers, "downloadCount": tr.Downloaded,
	}
}

// siteName is Transmission's "sitename": the registered domain without
// its public suffix (tracker.example.org: example), or the host itself.
func siteName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	h := u.Hostname()
	if _, err := netip.ParseAddr(h); err == nil {
		return h
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil {
		return h
	}
	name, _, _ := strings.Cut(d, ".")
	return name
}

func (s *Server) torrentGet(_ context.Context, a args) (any, error) {
	fields, ok, err := a.strings("fields")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	if !ok || len(fields) == 0 {
		return nil, errorf("torrent-get needs a non-empty \"fields\" list")
	}
	fields = dedupe(fields) // a map kept one of each
	format, _, err := a.str("format")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	if format != "" && format != "objects" && format != "table" {
		return nil, errorf("format must be \"objects\" or \"table\"")
	}
	sel, err := a.selector()
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	all := s.syncLocked()
	list, err := s.selectFromLocked(a, all)
	if err != nil {
		return nil, err
	}
	queue := make(map[client.TorrentID]int, len(all))
	for i, t := range all {
		queue[t.ID] = i
	}
	now := s.o.Now()
	var objects []object
	var table [][]any
	if format == "table" {
		// First row names the fields, each next row is one torrent.
		table = [][]any{}
		head := make([]any, len(fields))
		for i, f := range fields {
			head[i] = f
		}
		table = append(table, head)
	} else {
		objects = make([]object, 0, len(list))
	}
	for _, t := range list {
		v := &view{s: s, t: t, ts: s.st.byHash[t.ID], qp: queue[t.ID]}
		if format == "table" {
			row := make([]any, len(fields))
			for i, f := range fields {
				row[i], _ = v.field(f, now)
			}
			table = append(table, row)
			continue
		}
		obj := object{keys: make([]string, 0, len(fields)), vals: make([]any, 0, len(fields))}
		for _, f := range fields {
			if val, ok := v.field(f, now); ok {
				obj.set(f, val)
			}
		}
		objects = append(objects, obj)
	}
	out := map[string]any{}
	if format == "table" {
		out["torrents"] = table
	} else {
		out["torrents"] = objects
	}
	if sel.recentlyActive {
		cut := now.Add(-recentWindow)
		removed := []int{}
		for _, r := range s.removed {
			if r.at.After(cut) {
				removed = append(removed, r.id)
			}
		}
		out["removed"] = removed
	}
	return out, nil
}

// dedupe keeps the first of each name, in order.
func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
