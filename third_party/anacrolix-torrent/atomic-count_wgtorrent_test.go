package torrent

import (
	"reflect"
	"testing"
)

// TestCopyCountFields: wgtorrent's copy without reflection gives every
// field, and refuses a struct that is not all Counts.
func TestCopyCountFields(t *testing.T) {
	var src ConnStats
	v := reflect.ValueOf(&src).Elem()
	for i := range v.NumField() {
		v.Field(i).Addr().Interface().(*Count).Add(int64(i + 1))
	}
	got := src.Copy()
	g := reflect.ValueOf(&got).Elem()
	for i := range g.NumField() {
		if n := g.Field(i).Addr().Interface().(*Count).Int64(); n != int64(i+1) {
			t.Errorf("%s = %d, want %d", g.Type().Field(i).Name, n, i+1)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a struct with a field that is not a Count was copied")
		}
	}()
	type mixed struct {
		A Count
		B int64
	}
	copyCountFields(&mixed{})
}
