package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// args are a method's arguments. Getters take every spelling Transmission
// has used for a key (3.00 kebab-case, 4.0 camelCase, 4.1 snake_case) and
// fail on a wrong type instead of guessing, so a bad request changes nothing.
type args map[string]json.RawMessage

// raw returns the first key present among names.
func (a args) raw(names ...string) (string, json.RawMessage, bool) {
	for _, n := range names {
		if v, ok := a[n]; ok && !isNull(v) {
			return n, v, true
		}
	}
	return "", nil, false
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

func (a args) has(names ...string) bool { _, _, ok := a.raw(names...); return ok }

func (a args) str(names ...string) (string, bool, error) {
	n, v, ok := a.raw(names...)
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false, fmt.Errorf("argument %q must be a string", n)
	}
	return s, true, nil
}

// boolean accepts true/false and, like Transmission, 0/1.
func (a args) boolean(names ...string) (bool, bool, error) {
	n, v, ok := a.raw(names...)
	if !ok {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err == nil {
		return b, true, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err == nil && (f == 0 || f == 1) {
		return f == 1, true, nil
	}
	return false, false, fmt.Errorf("argument %q must be a boolean", n)
}

func (a args) number(names ...string) (float64, bool, error) {
	n, v, ok := a.raw(names...)
	if !ok {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("argument %q must be a number", n)
	}
	return f, true, nil
}

func (a args) integer(names ...string) (int64, bool, error) {
	f, ok, err := a.number(names...)
	if err != nil || !ok {
		return 0, ok, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		n, _, _ := a.raw(names...)
		return 0, false, fmt.Errorf("argument %q must be an integer", n)
	}
	return int64(f), true, nil
}

func (a args) strings(names ...string) ([]string, bool, error) {
	n, v, ok := a.raw(names...)
	if !ok {
		return nil, false, nil
	}
	var s []string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, false, fmt.Errorf("argument %q must be a list of strings", n)
	}
	return s, true, nil
}

// ints reads a list of non-negative integers (file indices).
func (a args) ints(names ...string) ([]int, bool, error) {
	n, v, ok := a.raw(names...)
	if !ok {
		return nil, false, nil
	}
	var fs []float64
	if err := json.Unmarshal(v, &fs); err != nil {
		return nil, false, fmt.Errorf("argument %q must be a list of integers", n)
	}
	out := make([]int, 0, len(fs))
	for _, f := range fs {
		if f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
			return nil, false, fmt.Errorf("argument %q: %v is not a file index", n, f)
		}
		out = append(out, int(f))
	}
	return out, true, nil
}

// idSelector is the parsed "ids" argument.
type idSelector struct {
	all            bool // absent: every torrent
	recentlyActive bool
	ids            []int
	hashes         []string // lower-case
}

func (a args) selector() (idSelector, error) {
	_, v, ok := a.raw("ids")
	if !ok {
		return idSelector{all: true}, nil
	}
	var one any
	if err := json.Unmarshal(v, &one); err != nil {
		return idSelector{}, fmt.Errorf("argument \"ids\": %v", err)
	}
	var sel idSelector
	add := func(x any) error {
		switch x := x.(type) {
		case float64:
			if x != math.Trunc(x) || x < 1 || x > math.MaxInt32 {
				return fmt.Errorf("argument \"ids\": %v is not a torrent id", x)
			}
			sel.ids = append(sel.ids, int(x))
		case string:
			// Anything but a hash names no torrent, as in Transmission
			// (ids: ["1"] is an empty selection, not an error).
			if h := strings.ToLower(strings.TrimSpace(x)); isHash(h) {
				sel.hashes = append(sel.hashes, h)
			}
		default:
			return fmt.Errorf("argument \"ids\" must be an id, a hash, a list of them or \"recently-active\"")
		}
		return nil
	}
	switch x := one.(type) {
	case string:
		if x == "recently-active" {
			return idSelector{recentlyActive: true}, nil
		}
		return sel, add(x)
	case []any:
		for _, e := range x {
			if err := add(e); err != nil {
				return idSelector{}, err
			}
		}
		return sel, nil
	default:
		return sel, add(x)
	}
}

func isHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
