package join

import "strings"

// interner gives each distinct name (command types; projection names, event
// types and services of pending joins) a small id, so facts and pending joins
// stay fixed-size, hold no pointer and never keep a request buffer alive
// through a string that aliases it. The table is bounded; past the limit new
// names get no id. "" is id 0.
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
	if name == "" {
		return 0, true
	}
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
