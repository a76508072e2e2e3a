package kvcache

// Pack moves every full-segment token but the last recent into the pruned
// segments, keeping only the kept channels: keys when KeyKept is set
// (ThinK), values when ValKept is set (ThinK-V), with the channels chosen
// when they were first pruned. It returns how many key and value rows
// moved. Decoding appends full-width tokens; packing them once they leave
// the recent window keeps a long generation from eroding the saving.
//
// A pruned segment that runs out of room grows as a full one does (twice
// its rows, at least GrowMin, never past the most tokens the head can
// hold); the full segment keeps its allocation, its free rows taken by the
// tokens to come. A forked head's shared rows are copied first
// (copy-on-write) when any of them moves.
func (h *Head) Pack(recent int) (keys, values int) {
	if h.KeyKept != nil {
		keys = pack(&h.kp, &h.kf, h.KeyKept, recent, h.bound())
	}
	if h.ValKept != nil {
		values = pack(&h.vp, &h.vf, h.ValKept, recent, h.bound())
	}
	return keys, values
}

// pack moves the full rows of f but the last recent to the end of p,
// restricted to the channels kept, and returns how many moved.
func pack(p, f *rows, kept []int, recent, bound int) int {
	m := f.n() - max(recent, 0)
	if m <= 0 {
		return 0
	}
	if need := p.n() + m; p.capRows() < need {
		p.growTo(p.sn + growRows(p.capRows()-p.sn, need-p.sn, bound-p.sn))
	}
	p.appendCols(f, 0, m, kept)
	f.dropFront(m)
	return m
}

// appendCols appends rows [i0, i1) of src, restricted to channels cols, to
// r's own rows (r.width must be len(cols)).
func (r *rows) appendCols(src *rows, i0, i1 int, cols []int) {
	buf := make([]float32, src.width+r.width)
	for i := i0; i < i1; i++ {
		r.pushCols(buf, src.row(i), cols)
	}
}

// dropFront deletes the first m rows, moving the others down within the
// allocation (a shared part is first copied: see unshare).
func (r *rows) dropFront(m int) {
	if m <= 0 {
		return
	}
	r.unshare()
	r.data = r.data[:copy(r.data, r.data[m*r.rb:])]
}
