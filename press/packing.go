package press

// Packing is how a press packs decoded tokens' keys (ThinK's pack key): once
// a head holds Recent + Every full-width keys, all but the last Recent are
// packed to the head's kept channels. Window is the press's query window.
type Packing struct{ Recent, Every, Window int }

// KeyPacking returns how p packs decoded tokens' keys, and false if it does
// not: no think part, or pack=0.
func KeyPacking(p Press) (Packing, bool) {
	switch p := p.(type) {
	case *thinK:
		if !p.values && p.pack > 0 {
			return Packing{Recent: p.recent, Every: p.pack, Window: p.window}, true
		}
	case composed:
		for _, part := range p {
			if pk, ok := KeyPacking(part); ok {
				return pk, true
			}
		}
	}
	return Packing{}, false
}
