// Suspicious files (package suspect): judged by name when the info
// arrives, by their first bytes as the pieces holding them are verified,
// and handled as Options.Suspicious says.
package client

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/wgtorrent/wgtorrent/client/suspect"
)

// SuspectPolicy is what the engine does with a torrent's suspicious files.
type SuspectPolicy string

const (
	// SuspectWarn reports them (Stats.Warnings) and downloads everything.
	SuspectWarn SuspectPolicy = "warn"
	// SuspectSkip sets them to PriorityOff: a file flagged by name before
	// any of it is requested; one flagged by its first bytes once they are
	// verified (nothing beyond the pieces holding them is requested
	// before). Once per finding: a file the user turns back on stays on.
	SuspectSkip SuspectPolicy = "skip"
	// SuspectPause pauses the torrent (Stats.Held) until the user resumes
	// it; the findings resumed past do not pause it again.
	SuspectPause SuspectPolicy = "pause"
)

// ParseSuspectPolicy reads a policy; "" is SuspectWarn.
func ParseSuspectPolicy(s string) (SuspectPolicy, error) {
	switch p := SuspectPolicy(s); p {
	case "":
		return SuspectWarn, nil
	case SuspectWarn, SuspectSkip, SuspectPause:
		return p, nil
	}
	return "", fmt.Errorf("suspicious-file policy %q: want warn, skip or pause", s)
}

// Warning is a file of a torrent that is not what its name says.
type Warning struct {
	File   int    `json:"file"`   // index in Files
	Path   string `json:"path"`   // as Files shows it
	Code   string `json:"code"`   // the rule (suspect.Code): "double-extension", "content"...
	Reason string `json:"reason"` // why, for people
}

// suspectRecord is what the engine keeps of a torrent's suspicious files.
// Names are judged again at every start; what content showed is kept.
type suspectRecord struct {
	Found []suspect.Finding `json:"found,omitempty"`
	// Skipped are the findings (findingKey) whose file SuspectSkip set
	// off: never again, so that a file the user turns on stays on.
	Skipped []string `json:"skipped,omitempty"`
	// Cleared are the findings the user resumed past: SuspectPause does
	// not pause for them again.
	Cleared []string `json:"cleared,omitempty"`
	// Held: paused by SuspectPause; Resume clears it.
	Held bool `json:"held,omitempty"`
}

func findingKey(f suspect.Finding) string { return strconv.Itoa(f.File) + ":" + string(f.Code) }

// flagged is a finding with its file's path in the metainfo (root first),
// so that Stats can show it renamed.
type flagged struct {
	suspect.Finding
	parts []string
}

// judgeNames classifies the torrent's files by name when its info is
// known and applies the policy, before anything is requested: flagged
// files are set off in the record (skip), or the torrent is held (pause).
// It returns the files of the info for watchHeads, and whether the
// torrent is a media one.
func (e *Engine) judgeNames(en *entry) (files []suspect.File, paths [][]string, media bool) {
	info := en.t.Info()
	paths = torrentPaths(info)
	files = make([]suspect.File, len(paths))
	for i, f := range en.t.Files() {
		files[i] = suspect.File{Path: strings.Join(paths[i], "/"), Length: f.Length()}
	}
	media = suspect.Media(info.BestName(), files)
	named := suspect.Names(info.BestName(), files)

	e.mu.Lock()
	all := append(slices.Clone(named), en.rec.Suspect.Found...)
	if len(all) == 0 {
		en.flagged = nil
		e.mu.Unlock()
		return files, paths, media
	}
	fl := make([]flagged, 0, len(all))
	for _, f := range all {
		if f.File >= 0 && f.File < len(paths) {
			fl = append(fl, flagged{f, paths[f.File]})
		}
	}
	en.flagged = fl
	changed, hold, skipped := e.actLocked(en, all)
	rec := en.rec
	e.mu.Unlock()

	var list []string
	for _, f := range fl {
		list = append(list, strings.Join(f.parts, "/")+": "+f.Reason)
	}
	e.log.Warn("suspicious files: not what their names say", "torrent", en.id, "name", info.BestName(),
		"policy", e.o.Suspicious, "count", len(fl), "skipped", len(skipped), "held", hold, "files", strings.Join(list, "; "))
	switch {
	case hold:
		e.hold(en)
	case changed:
		if err := e.st.saveRecord(rec); err != nil {
			e.log.Error("saving torrent state", "torrent", en.id, "err", err)
		}
	}
	return files, paths, media
}

// actLocked applies the policy to findings: with skip their files are set
// off in the record (returned), with pause it says whether to hold the
// torrent. changed: the record changed. With e.mu; copies of the record
// being saved share its map, so that is replaced, not changed.
func (e *Engine) actLocked(en *entry, findings []suspect.Finding) (changed, hold bool, skipped []int) {
	s := &en.rec.Suspect
	switch e.o.Suspicious {
	case SuspectSkip:
		for _, f := range findings {
			k := findingKey(f)
			if slices.Contains(s.Skipped, k) {
				continue
			}
			s.Skipped = append(s.Skipped, k)
			changed = true
			if en.rec.FilePriorities[f.File] != PriorityOff {
				prios := maps.Clone(en.rec.FilePriorities)
				if prios == nil {
					prios = map[int]Priority{}
				}
				prios[f.File] = PriorityOff
				en.rec.FilePriorities = prios
				skipped = append(skipped, f.File)
			}
		}
	case SuspectPause:
		for _, f := range findings {
			if !slices.Contains(s.Cleared, findingKey(f)) && !s.Held {
				hold = true
			}
		}
	}
	return changed, hold, skipped
}

// hold pauses a torrent for its suspicious files (SuspectPause).
func (e *Engine) hold(en *entry) {
	e.log.Warn("torrent paused for its suspicious files until resumed", "torrent", en.id)
	e.stop(en, func(r *record) {
		r.Paused = true
		r.Suspect.Held = true
	})
}

// clearSuspectsLocked is Resume's part: the torrent is no longer held,
// and its findings do not pause it again. With e.mu.
func (en *entry) clearSuspectsLocked(r *record) {
	r.Suspect.Held = false
	for _, f := range en.flagged {
		if k := findingKey(f.Finding); !slices.Contains(r.Suspect.Cleared, k) {
			r.Suspect.Cleared = append(r.Suspect.Cleared, k)
		}
	}
}

// warningsLocked is Stats' view of the findings. With e.mu.
func (en *entry) warningsLocked() []Warning {
	if len(en.flagged) == 0 {
		return nil
	}
	rn := renames(en.rec.Renames)
	out := make([]Warning, len(en.flagged))
	for i, f := range en.flagged {
		out[i] = Warning{File: f.File, Path: strings.Join(rn.apply(f.parts), "/"), Code: string(f.Code), Reason: f.Reason}
	}
	return out
}

// heldLocked is Stats.Held. With e.mu.
func (en *entry) heldLocked() string {
	if !en.rec.Suspect.Held || !en.rec.Paused {
		return ""
	}
	return fmt.Sprintf("paused for %d suspicious file(s): resume to download them anyway, or unselect them first", len(en.flagged))
}

// headWatch follows the pieces that hold the first bytes of a torrent's
// files whose extension content could belie (suspect.Checkable) until
// each file's are verified and checked. With skip and pause the rest of
// such a file is not requested before (gated): its head pieces are raised
// to high priority, the file itself left at none.
type headWatch struct {
	en    *entry
	media bool

	mu      sync.Mutex
	files   map[int]*headFile // not checked yet
	byPiece map[int][]int     // piece → files whose head it holds, not verified yet
}

type headFile struct {
	parts  []string // in the metainfo, root first
	length int64
	pieces []int // holding its first suspect.HeadSize bytes
	need   int   // of them not verified yet
	gated  bool
}

// watchHeads starts a headWatch for a torrent not complete yet, and
// returns the files it gates (their priority is set when checked, not
// by whenInfo). Heads verified already (a restart) are judged at once.
func (e *Engine) watchHeads(en *entry, files []suspect.File, paths [][]string, media bool) map[int]bool {
	if en.t.Complete().Bool() {
		return nil
	}
	gate := e.o.Suspicious == SuspectSkip || e.o.Suspicious == SuspectPause
	e.mu.Lock()
	prios := maps.Clone(en.rec.FilePriorities)
	e.mu.Unlock()
	w := &headWatch{en: en, media: media, files: map[int]*headFile{}, byPiece: map[int][]int{}}
	// Published first, then built under its lock: a piece verified from
	// here on reaches onVerified (which waits for the lock), one verified
	// before is already in the store's record.
	w.mu.Lock()
	e.heads.Store(en.ih, w)
	pl := en.t.Info().PieceLength
	var ready []int
	for i, f := range en.t.Files() {
		if f.Length() == 0 || !suspect.Checkable(files[i].Path) {
			continue
		}
		off, n := f.Offset(), min(suspect.HeadSize, f.Length())
		hf := &headFile{parts: paths[i], length: f.Length(), gated: gate && prios[i] != PriorityOff}
		for p := int(off / pl); p <= int((off+n-1)/pl); p++ {
			hf.pieces = append(hf.pieces, p)
			if !e.files.Verified(en.ih, p) {
				hf.need++
				w.byPiece[p] = append(w.byPiece[p], i)
			}
		}
		w.files[i] = hf
		if hf.need == 0 {
			ready = append(ready, i)
		}
	}
	gated := map[int]bool{}
	hfPieces := map[int][]int{}
	for i, hf := range w.files {
		if hf.gated {
			gated[i], hfPieces[i] = true, hf.pieces
		}
	}
	empty := len(w.files) == 0
	w.mu.Unlock()
	if empty {
		e.heads.CompareAndDelete(en.ih, w)
		return nil
	}
	for i := range gated {
		// The file stays at none (whenInfo leaves it; anacrolix starts
		// there): its head pieces alone are wanted. A head judged
		// meanwhile (a restart's rechecks) is complete: raising it is
		// harmless.
		for _, p := range hfPieces[i] {
			en.t.Piece(p).SetPriority(torrent.PiecePriorityHigh)
		}
	}
	for _, i := range ready {
		e.judgeHead(w, i)
	}
	return gated
}

// onVerified is filestore's OnVerified: a piece is verified and written.
// The heads it completes are read and judged here, before anacrolix counts
// the piece complete: a torrent is never reported done with a finding
// still to come. What the policy does about a finding (saving, skipping,
// holding, calls into anacrolix) is left to headChecker: this may run
// under anacrolix's lock (a piece written out late, filestore's Flush).
func (e *Engine) onVerified(ih metainfo.Hash, piece int) {
	v, ok := e.heads.Load(ih)
	if !ok {
		return
	}
	w := v.(*headWatch)
	w.mu.Lock()
	waiting := w.byPiece[piece]
	delete(w.byPiece, piece)
	var ready []int
	for _, i := range waiting {
		if hf := w.files[i]; hf != nil {
			if hf.need--; hf.need == 0 {
				ready = append(ready, i)
			}
		}
	}
	w.mu.Unlock()
	for _, i := range ready {
		e.judgeHead(w, i)
	}
}

// judgeHead reads a file's first bytes from disk (read only), notes what
// they show, and queues the rest for headChecker.
func (e *Engine) judgeHead(w *headWatch, file int) {
	en := w.en
	w.mu.Lock()
	hf := w.files[file]
	delete(w.files, file)
	done := len(w.files) == 0
	w.mu.Unlock()
	if done {
		e.heads.CompareAndDelete(en.ih, w)
	}
	if hf == nil {
		return
	}
	job := headJob{en: en, file: file, hf: hf}
	name := strings.Join(hf.parts, "/")
	head, err := e.readHead(en.ih, hf)
	switch {
	case err != nil:
		e.log.Warn("cannot read the first bytes of a file to check them; not checked", "torrent", en.id, "file", name, "err", err)
	default:
		if f, bad := suspect.Head(name, head, w.media); bad {
			f.File = file
			if e.noteFinding(en, f, hf.parts) {
				job.found = &f
			}
		}
	}
	if job.found != nil || hf.gated {
		e.queueHead(job)
	}
}

func (e *Engine) readHead(ih metainfo.Hash, hf *headFile) ([]byte, error) {
	v, ok := e.dirs.Load(ih)
	if !ok {
		return nil, errors.New("torrent gone")
	}
	pl := v.(placement)
	f, err := os.Open(filepath.Join(pl.dir, filepath.Join(pl.renames.apply(hf.parts)...)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, min(suspect.HeadSize, hf.length))
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
		return nil, err
	}
	return buf[:n], nil
}

// noteFinding adds what a file's first bytes showed to the torrent's
// findings and record (saved by headChecker); false if it was known.
func (e *Engine) noteFinding(en *entry, f suspect.Finding, parts []string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.torrents[en.ih] != en || slices.ContainsFunc(en.flagged, func(x flagged) bool {
		return x.File == f.File && x.Code == f.Code
	}) {
		return false
	}
	en.rec.Suspect.Found = append(en.rec.Suspect.Found, f)
	en.flagged = append(slices.Clone(en.flagged), flagged{f, parts})
	return true
}

// headJob is what is left to do for a file whose head was judged: apply
// the policy to a finding, give a gated file its priority.
type headJob struct {
	en    *entry
	file  int
	hf    *headFile
	found *suspect.Finding
}

// headQueue feeds headChecker; it never blocks the goroutine that tells
// onVerified.
type headQueue struct {
	mu   sync.Mutex
	jobs []headJob
	wake chan struct{}
}

func (e *Engine) queueHead(j headJob) {
	e.headq.mu.Lock()
	e.headq.jobs = append(e.headq.jobs, j)
	e.headq.mu.Unlock()
	select {
	case e.headq.wake <- struct{}{}:
	default:
	}
}

// headChecker does the jobs queued, in order.
func (e *Engine) headChecker() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.headq.wake:
		}
		for {
			e.headq.mu.Lock()
			jobs := e.headq.jobs
			e.headq.jobs = nil
			e.headq.mu.Unlock()
			if len(jobs) == 0 {
				break
			}
			for _, j := range jobs {
				if e.ctx.Err() != nil {
					return
				}
				e.finishHead(j)
			}
		}
	}
}

// finishHead applies the policy to a finding (skip sets the file off: only
// the pieces holding its first bytes were fetched, unless the user chose
// it; pause holds the torrent), saves it, then gives a gated file the
// priority its record says.
func (e *Engine) finishHead(j headJob) {
	en := j.en
	e.mu.Lock()
	live := !e.closed && e.torrents[en.ih] == en
	var hold bool
	var skipped []int
	rec := en.rec
	if live && j.found != nil {
		_, hold, skipped = e.actLocked(en, []suspect.Finding{*j.found})
		rec = en.rec
	}
	e.mu.Unlock()
	if !live {
		return
	}
	if f := j.found; f != nil {
		e.log.Warn("suspicious file: its first bytes are not what its name says", "torrent", en.id,
			"file", strings.Join(j.hf.parts, "/"), "reason", f.Reason, "policy", e.o.Suspicious,
			"skipped", len(skipped) > 0, "held", hold)
		if hold {
			e.hold(en) // saves the record
		} else if err := e.st.saveRecord(rec); err != nil {
			e.log.Error("saving torrent state", "torrent", en.id, "err", err)
		}
		files := en.t.Files()
		for _, i := range skipped {
			files[i].SetPriority(torrent.PiecePriorityNone)
		}
		e.notify()
	}
	if j.hf.gated {
		e.ungate(en, j.file, j.hf)
	}
}

// ungate gives a checked file the priority its record says, and its head
// pieces back their own.
func (e *Engine) ungate(en *entry, file int, hf *headFile) {
	e.mu.Lock()
	prio := en.rec.FilePriorities[file]
	e.mu.Unlock()
	en.t.Files()[file].SetPriority(piecePriority(prio))
	for _, p := range hf.pieces {
		en.t.Piece(p).SetPriority(torrent.PiecePriorityNone)
	}
}
