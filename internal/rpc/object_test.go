package rpc

import (
	"encoding/json"
	"math"
	"testing"
)

// TestObjectEncodesAsEncodingJSON: every value the fast path takes is
// written byte for byte as encoding/json writes it in a map.
func TestObjectEncodesAsEncodingJSON(t *testing.T) {
	vals := []any{0, -7, int64(math.MaxInt64), true, false, 0.0, 1.5, -0.25, 1e-7, 3e21, 1e20, 123456789.125,
		"", "plain name", "Show.S01E01 <x> & \"q\" \\", "ünïcode", "tab\there", "\xff", nil, []any{1, "a"},
		map[string]any{"b": 1, "a": 2}, []int{1, 2}}
	for _, v := range vals {
		o := object{}
		o.set("k", v)
		got, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		want, _ := json.Marshal(map[string]any{"k": v})
		if string(got) != string(want) {
			t.Errorf("%#v: %s, want %s", v, got, want)
		}
	}
	if _, err := json.Marshal(object{keys: []string{"k"}, vals: []any{math.NaN()}}); err == nil {
		t.Error("NaN encoded")
	}
}
