package tokenizer

import (
	"math"
	"strings"
	"sync"
	"unicode/utf8"
)

// symbol is a run of the normalised text in the merge linked list.
type symbol struct {
	start, n   int // byte range in the normalised text; n == 0 once merged away
	prev, next int // neighbours in the list, -1 at the ends
	lastMerge  int // index in encoder.merges of the last merge into this symbol, or -1
}

// bigram is a candidate merge of a symbol with its right neighbour.
type bigram struct {
	// key orders the queue: the piece's score in the high 32 bits, mapped so
	// that unsigned order is float order, and the complement of the left
	// symbol's index in the low 32 bits, so the larger key is the better
	// pair and ties go to the leftmost one.
	key  uint64
	size int // combined byte length when queued; detects stale entries
}

func makeKey(score float32, left int) uint64 {
	b := math.Float32bits(score)
	if b&(1<<31) != 0 {
		b = ^b
	} else {
		b |= 1 << 31
	}
	return uint64(b)<<32 | uint64(^uint32(left))
}

// left returns the index of the pair's left symbol.
func (b bigram) left() int { return int(^uint32(b.key)) }

// mergeRecord remembers how a symbol was built, to split Unused pieces.
type mergeRecord struct {
	right   int // the symbol merged in from the right
	leftLen int // the left symbol's length before the merge
	prev    int // the left symbol's previous lastMerge
}

// encoder holds the scratch state of one Encode call.
type encoder struct {
	t       *Tokenizer
	text    string
	symbols []symbol
	queue   bigramHeap
	merges  []mergeRecord
}

var encoderPool = sync.Pool{New: func() any { return new(encoder) }}

// Encode converts text to token ids, prepending the BOS token if addBOS is
// set and the vocabulary has one. Special-token text such as "<s>" or
// "<|eot_id|>" is encoded as plain text (see EncodeSpecial): Control,
// Unknown and Byte pieces are never produced by merging, and UserDefined
// pieces are not matched ahead of merging (llama.cpp and Hugging Face do
// match them), only reached by merging like Normal ones. Bytes that no piece
// covers are encoded as <0xNN> tokens, or as UNK if the vocabulary has no
// byte tokens (and dropped if it has no UNK either).
func (t *Tokenizer) Encode(text string, addBOS bool) []int {
	out := make([]int, 0, len(text)/3+2)
	if addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	return t.encode(text, false, out)
}

// encodeSPM appends the ids of non-empty text with SentencePiece's
// score-ranked merges.
func (t *Tokenizer) encodeSPM(text string, out []int) []int {
	e := encoderPool.Get().(*encoder)
	e.t = t
	out = e.encode(text, out)
	e.t, e.text = nil, ""
	if cap(e.symbols) <= 1<<16 { // keep pooled memory modest
		encoderPool.Put(e)
	}
	return out
}

// normalize replaces spaces with "▁" and adds the dummy prefix.
func (t *Tokenizer) normalize(text string) string {
	spaces := strings.Count(text, " ")
	var b strings.Builder
	b.Grow(len(text) + (spaces+1)*(len(spaceSymbol)-1) + 1)
	if t.addSpacePrefix {
		b.WriteString(spaceSymbol)
	}
	for {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			break
		}
		b.WriteString(text[:i])
		b.WriteString(spaceSymbol)
		text = text[i+1:]
	}
	b.WriteString(text)
	return b.String()
}

// utf8Len returns the length of the UTF-8 sequence that starts with byte c,
// judged by its high bits alone, as llama.cpp does; invalid input thus splits
// the same way as there.
func utf8Len(c byte) int {
	switch {
	case c < 0xC0:
		return 1
	case c < 0xE0:
		return 2
	case c < 0xF0:
		return 3
	}
	return 4
}

func (e *encoder) encode(text string, out []int) []int {
	s := e.t.normalize(text)
	e.text = s
	// Cut the text into words before each "▁" that follows another
	// character, when no piece can span such a cut (see Tokenizer.words):
	// then merging each word alone gives the same result, faster.
	if !e.t.words {
		return e.bpe(0, len(s), out)
	}
	// Long texts repeat words: remember where each word's ids are in out.
	var seen map[string][2]int
	if len(s) >= cacheMinLen {
		seen = make(map[string][2]int, len(s)/16)
	}
	word := 0
	prev := ""
	for off := 0; off < len(s); {
		n := min(utf8Len(s[off]), len(s)-off)
		c := s[off : off+n]
		if c == spaceSymbol && prev != "" && prev != spaceSymbol && utf8.ValidString(prev) {
			out = e.word(word, off, seen, out)
			word = off
		}
		prev = c
		off += n
	}
	return e.word(word, len(s), seen, out)
}

// word encodes the word s[from:to] of the normalised text s, reusing the
// ids of an earlier occurrence recorded in seen (if not nil).
func (e *encoder) word(from, to int, seen map[string][2]int, out []int) []int {
	w := e.text[from:to]
	if span, ok := seen[w]; ok {
		return append(out, out[span[0]:span[1]]...)
	}
	a := len(out)
	out = e.bpe(from, to, out)
	if seen != nil {
		seen[w] = [2]int{a, len(out)}
	}
	return out
}

// cacheMinLen is the normalised length from which Encode reuses the ids of
// repeated words.
const cacheMinLen = 512

// bpe encodes the normalised text range [from, to) and appends the ids to
// out.
func (e *encoder) bpe(from, to int, out []int) []int {
	s := e.text
	e.symbols = e.symbols[:0]
	e.queue = e.queue[:0]
	e.merges = e.merges[:0]
	for off := from; off < to; {
		n := min(utf8Len(s[off]), to-off)
		i := len(e.symbols)
		e.symbols = append(e.symbols, symbol{start: off, n: n, prev: i - 1, next: i + 1, lastMerge: -1})
		off += n
	}
	e.symbols[len(e.symbols)-1].next = -1
	for i := 1; i < len(e.symbols); i++ {
		e.tryBigram(i-1, i)
	}
	for len(e.queue) > 0 {
		bg := e.queue.pop()
		left := bg.left()
		l := &e.symbols[left]
		// Lengths only grow, so if the left symbol is still alive and it
		// and its right neighbour add up to the queued size, neither has
		// changed since the pair was queued.
		if l.n == 0 || l.next < 0 || l.n+e.symbols[l.next].n != bg.size {
			continue
		}
		right := l.next
		r := &e.symbols[right]
		e.merges = append(e.merges, mergeRecord{right: right, leftLen: l.n, prev: l.lastMerge})
		l.lastMerge = len(e.merges) - 1
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			e.symbols[r.next].prev = left
		}
		e.tryBigram(l.prev, left)
		e.tryBigram(left, l.next)
	}
	for i := 0; i != -1; i = e.symbols[i].next {
		sym := &e.symbols[i]
		out = e.resegment(sym.start, sym.n, sym.lastMerge, out)
	}
	return out
}

// tryBigram queues the merge of symbols left and right if their
// concatenation is a piece.
func (e *encoder) tryBigram(left, right int) {
	if left < 0 || right < 0 {
		return
	}
	l, r := &e.symbols[left], &e.symbols[right]
	size := l.n + r.n
	if size > e.t.maxMerge {
		return
	}
	id, ok := e.t.merge[e.text[l.start:l.start+size]]
	if !ok {
		return
	}
	e.queue.push(bigram{key: makeKey(e.t.scores[id], left), size: size})
}

// resegment emits the tokens for the text range [start, start+n), which was
// built by the merge chain ending at record m.
func (e *encoder) resegment(start, n, m int, out []int) []int {
	if id, ok := e.t.merge[e.text[start:start+n]]; ok && e.t.types[id] != Unused {
		return append(out, int(id))
	}
	if m >= 0 {
		// An Unused piece: emit the two halves it was merged from instead.
		rec := e.merges[m]
		out = e.resegment(start, rec.leftLen, rec.prev, out)
		return e.resegment(start+rec.leftLen, n-rec.leftLen, e.symbols[rec.right].lastMerge, out)
	}
	for _, b := range []byte(e.text[start : start+n]) {
		switch {
		case e.t.byteIDs[b] >= 0:
			out = append(out, int(e.t.byteIDs[b]))
		case e.t.unk >= 0:
			out = append(out, e.t.unk)
		}
	}
	return out
}
