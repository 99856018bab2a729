package store

import "strings"

// Interner gives each distinct command type a small id, so store entries
// stay fixed-size and never keep a request buffer alive through a string
// that aliases it. The table is bounded; past the limit new types get 0.
type Interner struct {
	limit int
	ids   map[string]uint32
	names []string
}

// NewInterner returns an interner holding at most limit names.
func NewInterner(limit int) *Interner {
	return &Interner{limit: limit, ids: make(map[string]uint32), names: []string{""}}
}

// ID returns the id of name, interning it if there is room. ok is false
// when the table is full and name was not in it.
func (in *Interner) ID(name string) (id uint32, ok bool) {
	if id, found := in.ids[name]; found {
		return id, true
	}
	if len(in.names)-1 >= in.limit {
		return 0, false
	}
	c := strings.Clone(name)
	id = uint32(len(in.names))
	in.names = append(in.names, c)
	in.ids[c] = id
	return id, true
}

// Name returns the name interned as id ("" for 0 or unknown ids).
func (in *Interner) Name(id uint32) string {
	if int(id) >= len(in.names) {
		return ""
	}
	return in.names[id]
}
