package torrent

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

type Count struct {
	n int64
}

var _ fmt.Stringer = (*Count)(nil)

func (me *Count) Add(n int64) {
	atomic.AddInt64(&me.n, n)
}

func (me *Count) Int64() int64 {
	return atomic.LoadInt64(&me.n)
}

func (me *Count) String() string {
	return fmt.Sprintf("%v", me.Int64())
}

func (me *Count) MarshalJSON() ([]byte, error) {
	return json.Marshal(me.n)
}

// copyCountFields copies a struct of Counts. wgtorrent: it walked the
// fields by reflection on every call, and Torrent.Stats calls it twice: at
// thousands of torrents that was most of the cost of listing them. The
// fields are now checked once per type, and copied as an array.
func copyCountFields[T any](src *T) (dst T) {
	n := countFields[T]()
	s := unsafe.Slice((*Count)(unsafe.Pointer(src)), n)
	d := unsafe.Slice((*Count)(unsafe.Pointer(&dst)), n)
	for i := range s {
		d[i].n = s[i].Int64()
	}
	return
}

var countStructs sync.Map // reflect.Type → number of Count fields

// countFields is the number of fields of T, all of them Counts (else it
// panics, as the reflective copy did).
func countFields[T any]() int {
	t := reflect.TypeFor[T]()
	if n, ok := countStructs.Load(t); ok {
		return n.(int)
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Type != reflect.TypeFor[Count]() || f.Offset != uintptr(i)*unsafe.Sizeof(Count{}) {
			panic(fmt.Sprintf("copyCountFields: %v.%s is not a packed Count", t, f.Name))
		}
	}
	countStructs.Store(t, t.NumField())
	return t.NumField()
}
