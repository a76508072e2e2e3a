package tokenizer

// bigramHeap is a binary max-heap of candidate merges ordered by key. The
// SentencePiece encoder keys by score (then leftmost); the byte-level BPE
// encoder by the complement of rank<<32|left, so the lowest rank (then
// leftmost) pops first from the same heap.
type bigramHeap []bigram

// push adds b.
func (h *bigramHeap) push(b bigram) {
	q := append(*h, b)
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if q[i].key <= q[p].key {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
	*h = q
}

// pop removes and returns the entry with the largest key.
func (h *bigramHeap) pop() bigram {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && q[r].key > q[l].key {
			m = r
		}
		if q[m].key <= q[i].key {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
