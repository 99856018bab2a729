package join

import "strings"

// interner gives each distinct command type a small id, so facts stay
// fixed-size and never keep a request buffer alive through a string that
// aliases it. The table is bounded; past the limit new types get no id.
type interner struct {
	limit int
	ids   map[string]uint32
	names []string
}

func newInterner(limit int) *interner {
	return &interner{limit: limit, ids: make(map[string]uint32), names: []string{""}}
}

// id returns the id of name, interning it if there is room; ok is false when
// the table is full and name was not in it.
func (in *interner) id(name string) (id uint32, ok bool) {
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

// name returns the name interned as id ("" for 0, CommandUnnamed or unknown ids).
func (in *interner) name(id uint32) string {
	if int(id) >= len(in.names) {
		return ""
	}
	return in.names[id]
}

// canonical returns the interned copy of name, interning it if there is room;
// past the limit, a copy of its own. Names that key metrics (projection, event
// type, service) are few, so pending joins share them instead of each
// allocating its own.
func (in *interner) canonical(name string) string {
	if name == "" {
		return ""
	}
	if id, found := in.ids[name]; found {
		return in.names[id]
	}
	if id, ok := in.id(name); ok {
		return in.names[id]
	}
	return strings.Clone(name)
}
