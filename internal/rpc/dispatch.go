package rpc

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
)

type request struct {
	Method    string          `json:"method"`
	Arguments json.RawMessage `json:"arguments"`
	Tag       json.RawMessage `json:"tag,omitempty"`
}

type response struct {
	Result    string          `json:"result"`
	Arguments any             `json:"arguments"`
	Tag       json.RawMessage `json:"tag,omitempty"`
}

const success = "success"

// rpcError is an error whose message is the client-facing "result".
type rpcError struct{ msg string }

func (e *rpcError) Error() string { return e.msg }

func errorf(format string, a ...any) error { return &rpcError{fmt.Sprintf(format, a...)} }

type method func(s *Server, ctx context.Context, a args) (any, error)

var methods = map[string]method{
	"session-get":          (*Server).sessionGet,
	"session-set":          (*Server).sessionSet,
	"session-stats":        (*Server).sessionStatsMethod,
	"session-close":        notSupported("session-close: stop wgtorrent itself; it does not shut down over RPC"),
	"torrent-get":          (*Server).torrentGet,
	"torrent-add":          (*Server).torrentAdd,
	"torrent-start":        (*Server).torrentStart,
	"torrent-start-now":    (*Server).torrentStart,
	"torrent-stop":         (*Server).torrentStop,
	"torrent-verify":       (*Server).torrentVerify,
	"torrent-reannounce":   (*Server).torrentReannounce,
	"torrent-remove":       (*Server).torrentRemove,
	"torrent-set":          (*Server).torrentSet,
	"torrent-set-location": (*Server).torrentSetLocation,
	"torrent-rename-path":  (*Server).torrentRenamePath,
	"free-space":           (*Server).freeSpace,
	"port-test":            (*Server).portTest,
	"blocklist-update":     notSupported("blocklists are not supported: peers are only reachable through the VPN tunnel"),
	"queue-move-top":       (*Server).queueMove,
	"queue-move-up":        (*Server).queueMove,
	"queue-move-down":      (*Server).queueMove,
	"queue-move-bottom":    (*Server).queueMove,
}

func notSupported(msg string) method {
	return func(*Server, context.Context, args) (any, error) { return nil, &rpcError{msg} }
}

// exec decodes one request body and runs it. It never panics on any input
// (FuzzRPC) and answers every failure in Transmission's shape.
func (s *Server) exec(ctx context.Context, body []byte) response {
	var req request
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		s.countRequest("invalid", false)
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return response{Result: "invalid request: want a JSON object {\"method\": string, \"arguments\": object, \"tag\": number}", Arguments: struct{}{}}
		}
		return response{Result: "invalid JSON request: " + err.Error(), Arguments: struct{}{}}
	}
	if dec.More() {
		s.countRequest("invalid", false)
		return response{Result: "invalid JSON request: trailing data after the request object", Arguments: struct{}{}}
	}
	resp := response{Arguments: struct{}{}, Tag: req.Tag}
	if len(req.Tag) > 0 {
		var n float64
		if json.Unmarshal(req.Tag, &n) != nil {
			resp.Tag = nil // Transmission only echoes numeric tags
		}
	}
	var a args
	if len(req.Arguments) > 0 && !isNull(req.Arguments) {
		if err := json.Unmarshal(req.Arguments, &a); err != nil {
			s.countRequest("invalid", false)
			resp.Result = "\"arguments\" must be a JSON object"
			return resp
		}
	}
	if a == nil {
		a = args{}
	}
	m, ok := methods[req.Method]
	if !ok {
		s.countRequest("unknown", false)
		resp.Result = "method name not recognized"
		return resp
	}
	s.mu.Lock()
	out, err := m(s, ctx, a)
	s.mu.Unlock()
	s.countRequest(req.Method, err == nil)
	if err != nil {
		var re *rpcError
		if errors.As(err, &re) {
			resp.Result = re.msg
			// Some failures still carry arguments (free-space's -1).
			if out != nil {
				resp.Arguments = out
			}
		} else {
			resp.Result = err.Error()
			s.log.Warn("rpc: method failed", "method", req.Method, "err", err)
		}
		return resp
	}
	if out != nil {
		resp.Arguments = out
	}
	resp.Result = success
	return resp
}

// syncLocked gives an id to every torrent the engine has and returns the
// engine's list in id order.
func (s *Server) syncLocked() []client.Stats {
	list := s.engine.List()
	if slices.ContainsFunc(list, func(t client.Stats) bool { return s.st.byHash[t.ID] == nil }) {
		// New torrents get ids in the order they were added.
		sort.SliceStable(list, func(i, j int) bool { return list[i].AddedAt.Before(list[j].AddedAt) })
		for _, t := range list {
			s.st.ensure(t.ID)
		}
		s.saveLocked()
	}
	s.countMovedLocked(list)
	ids := make(map[client.TorrentID]int, len(list))
	for _, t := range list {
		ids[t.ID] = s.st.byHash[t.ID].ID
	}
	byID := func(a, b client.Stats) int { return cmp.Compare(ids[a.ID], ids[b.ID]) }
	if !slices.IsSortedFunc(list, byID) { // usually is: ids follow the order of adding
		slices.SortStableFunc(list, byID)
	}
	return list
}

// saveEvery paces the state file's writes. The file holds every torrent,
// so writing it on each change made an *arr tool's import of thousands of
// torrents quadratic (10,000 adds: over a minute of JSON); a crash loses
// at most this much of ids and labels, never a torrent (the engine keeps
// those itself).
const saveEvery = time.Second

// saveLocked writes the state now, or once saveEvery has passed since the
// last write.
func (s *Server) saveLocked() {
	if s.saveTimer != nil {
		return // one is due
	}
	if wait := time.Until(s.lastSave.Add(saveEvery)); wait > 0 {
		s.saveTimer = time.AfterFunc(wait, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.saveTimer != nil {
				s.writeLocked()
			}
		})
		return
	}
	s.writeLocked()
}

func (s *Server) writeLocked() {
	if s.saveTimer != nil {
		s.saveTimer.Stop()
		s.saveTimer = nil
	}
	s.lastSave = time.Now()
	if err := s.st.save(); err != nil {
		s.log.Error("rpc: state not saved", "err", err)
	}
}

// Close writes what is not written yet, this run's transfer totals
// included. The Server must not be used afterwards.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeLocked()
}

// selectLocked returns the torrents "ids" names. Ids and hashes of no
// torrent are passed over, as Transmission does: a remover that runs twice
// must not fail the second time.
func (s *Server) selectLocked(a args) ([]client.Stats, error) {
	return s.selectFromLocked(a, s.syncLocked())
}

// selectFromLocked is selectLocked from list, syncLocked's answer.
func (s *Server) selectFromLocked(a args, list []client.Stats) ([]client.Stats, error) {
	sel, err := a.selector()
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	if sel.all {
		return list, nil
	}
	if sel.recentlyActive {
		var out []client.Stats
		cut := s.o.Now().Add(-recentWindow)
		for _, t := range list {
			if s.recentlyActive(t, cut) {
				out = append(out, t)
			}
		}
		return out, nil
	}
	byHash := map[client.TorrentID]client.Stats{}
	for _, t := range list {
		byHash[t.ID] = t
	}
	want := map[client.TorrentID]bool{}
	for _, id := range sel.ids {
		ts := s.st.byID[id]
		if ts == nil || byHash[ts.Hash].ID == "" {
			continue
		}
		want[ts.Hash] = true
	}
	for _, h := range sel.hashes {
		if byHash[client.TorrentID(h)].ID == "" {
			continue
		}
		want[client.TorrentID(h)] = true
	}
	var out []client.Stats
	for _, t := range list {
		if want[t.ID] {
			out = append(out, t)
		}
	}
	return out, nil
}
