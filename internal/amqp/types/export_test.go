package types

// CompositeNames maps the descriptor code of every generated composite type
// to its symbolic descriptor, for tests that must cover all of them.
func CompositeNames() map[uint64]Symbol {
	out := make(map[uint64]Symbol, len(compositeByCode))
	for name, code := range compositeByName {
		if _, ok := compositeByCode[code]; ok {
			out[code] = name
		}
	}
	return out
}
