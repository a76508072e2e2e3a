package tokenizer

import (
	"sync"
	"unicode/utf8"
)

// bpeSym is a symbol of a word being merged: a token id (-1 once merged
// away) in a doubly linked list.
type bpeSym struct{ id, prev, next int32 }

// bpeEncoder holds the scratch state of one encoding.
type bpeEncoder struct {
	syms []bpeSym
	heap bigramHeap // candidate merges, keyed by ^(rank<<32 | left symbol index)
	// seen remembers where each word's ids are in the output, so repeated
	// words of a long text are merged once; nil for short texts.
	seen map[string][2]int32
}

var bpePool = sync.Pool{New: func() any { return new(bpeEncoder) }}

// encodeBPE appends the ids of seg, a segment of text between special
// tokens; atStart tells whether it begins the text.
func (t *Tokenizer) encodeBPE(seg string, atStart bool, out []int, e *bpeEncoder) []int {
	m := t.bpe
	preTokenize(m.normalize(seg, atStart), m.steps, func(w string) {
		if span, ok := e.seen[w]; ok {
			out = append(out, out[span[0]:span[1]]...)
			return
		}
		a := len(out)
		out = m.word(t, w, out, e)
		if e.seen != nil {
			e.seen[w] = [2]int32{int32(a), int32(len(out))}
		}
	})
	return out
}

func (e *bpeEncoder) add(id int32) {
	n := int32(len(e.syms))
	e.syms = append(e.syms, bpeSym{id: id, prev: n - 1, next: n + 1})
}

// word appends the ids of the pre-token w.
func (m *bpeModel) word(t *Tokenizer, w string, out []int, e *bpeEncoder) []int {
	if m.ignoreMerges {
		id, ok := m.whole[w]
		if !m.byteLevel {
			id = m.lookup(t, w)
			ok = id >= 0
		}
		if ok {
			return append(out, int(id))
		}
	}
	e.syms = e.syms[:0]
	if m.byteLevel {
		for i := 0; i < len(w); i++ {
			m.addUnknown(t, e, m.byteSym[w[i]], w[i:i+1])
		}
	} else {
		for i := 0; i < len(w); {
			_, n := utf8.DecodeRuneInString(w[i:])
			m.addUnknown(t, e, m.lookup(t, w[i:i+n]), w[i:i+n])
			i += n
		}
	}
	if len(e.syms) == 0 {
		return out
	}
	syms := e.syms
	syms[len(syms)-1].next = -1
	e.heap = e.heap[:0]
	for i := 1; i < len(syms); i++ {
		m.queue(e, int32(i-1), int32(i))
	}
	for len(e.heap) > 0 {
		top := ^e.heap.pop().key
		left := int32(uint32(top))
		l := &syms[left]
		if l.id < 0 || l.next < 0 {
			continue
		}
		r := &syms[l.next]
		// Ranks are unique per pair, so a pair with the queued rank is
		// still the queued pair.
		mg, ok := m.merges[pairKey(l.id, r.id)]
		if !ok || uint32(mg.rank) != uint32(top>>32) {
			continue
		}
		l.id, r.id = mg.id, -1
		l.next = r.next
		if l.next >= 0 {
			syms[l.next].prev = left
		}
		m.queue(e, l.prev, left)
		m.queue(e, left, l.next)
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, int(syms[i].id))
	}
	return out
}

// addUnknown adds the symbol id for the text c, or if id is -1 its
// fallback: c's <0xNN> byte tokens if the model has byte fallback and all of
// them exist, else UNK (once for a run of unknowns with fuseUnk), else
// nothing.
func (m *bpeModel) addUnknown(t *Tokenizer, e *bpeEncoder, id int32, c string) {
	if id >= 0 {
		e.add(id)
		return
	}
	if m.byteFallback {
		ok := true
		for i := 0; i < len(c); i++ {
			ok = ok && t.byteIDs[c[i]] >= 0
		}
		if ok {
			for i := 0; i < len(c); i++ {
				e.add(t.byteIDs[c[i]])
			}
			return
		}
	}
	if t.unk < 0 {
		return
	}
	if n := len(e.syms); m.fuseUnk && n > 0 && e.syms[n-1].id == int32(t.unk) {
		return
	}
	e.add(int32(t.unk))
}

// queue adds the merge of symbols left and right, if they have one.
func (m *bpeModel) queue(e *bpeEncoder, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	mg, ok := m.merges[pairKey(e.syms[left].id, e.syms[right].id)]
	if !ok {
		return
	}
	e.heap.push(bigram{key: ^(uint64(uint32(mg.rank))<<32 | uint64(uint32(left)))})
}
