package kvcache

import "github.com/thinkv/thinkv/kernels"

// rows is a growable block of fixed-width vectors stored as f32 or f16.
// Its capacity is set when it is made and changes only through growTo and
// reserve (Head grows it as tokens arrive).
//
// After Cache.Fork the block is in two parts: shared, a frozen block holding
// the first sn rows, which other caches may reference too and which is never
// written again, and the block's own rows after them (f32 or f16), to which
// tokens are appended. Every method below sees the two parts as one block of
// n() rows; those that would write to a row of the shared part (removeRow)
// first copy it into an owned block (copy-on-write). Without a fork, shared is
// nil, sn is 0 and the block is its own rows alone.
type rows struct {
	typ    DType
	width  int
	f32    []float32
	f16    []uint16
	shared *rows // frozen prefix (nil: none); itself has no shared part
	sn     int   // rows in shared
}

func newRows(typ DType, width, capRows int) rows {
	r := rows{typ: typ, width: width}
	if typ == F16 {
		r.f16 = make([]uint16, 0, width*capRows)
	} else {
		r.f32 = make([]float32, 0, width*capRows)
	}
	return r
}

// n returns the number of stored vectors.
func (r *rows) n() int {
	if r.width == 0 {
		return 0
	}
	if r.typ == F16 {
		return r.sn + len(r.f16)/r.width
	}
	return r.sn + len(r.f32)/r.width
}

// at returns the block holding row i (the shared part or r itself) and the
// row's index there.
func (r *rows) at(i int) (*rows, int) {
	if i < r.sn {
		return r.shared, i
	}
	return r, i - r.sn
}

// bytes returns the bytes allocated for the block: the shared part's and
// the block's own.
func (r *rows) bytes() int64 {
	return r.sharedBytes() + r.ownBytes()
}

// ownBytes returns the bytes allocated for the block's own rows.
func (r *rows) ownBytes() int64 {
	if r.typ == F16 {
		return 2 * int64(cap(r.f16))
	}
	return 4 * int64(cap(r.f32))
}

// sharedBytes returns the bytes of the shared part (0 without one).
func (r *rows) sharedBytes() int64 {
	if r.shared == nil {
		return 0
	}
	return r.shared.ownBytes()
}

// capRows returns how many rows fit without reallocating.
func (r *rows) capRows() int {
	if r.width == 0 {
		return 0
	}
	if r.typ == F16 {
		return r.sn + cap(r.f16)/r.width
	}
	return r.sn + cap(r.f32)/r.width
}

// growTo reallocates the block's own rows so that it holds exactly capRows
// rows in all (shared part included), keeping its contents; it does nothing
// if it already holds that many.
func (r *rows) growTo(capRows int) {
	want := (capRows - r.sn) * r.width
	if r.typ == F16 && cap(r.f16) < want {
		r.f16 = append(make([]uint16, 0, want), r.f16...)
	} else if r.typ != F16 && cap(r.f32) < want {
		r.f32 = append(make([]float32, 0, want), r.f32...)
	}
}

// heldBytes returns the bytes of the stored rows (not of spare capacity).
func (r *rows) heldBytes() int64 {
	var b int64
	if r.shared != nil {
		b = r.shared.heldBytes()
	}
	if r.typ == F16 {
		return b + 2*int64(len(r.f16))
	}
	return b + 4*int64(len(r.f32))
}

// push appends x[:width], converting to the storage type.
func (r *rows) push(x []float32) {
	x = x[:r.width]
	if r.typ == F16 {
		for _, v := range x {
			r.f16 = append(r.f16, kernels.F32ToF16(v))
		}
		return
	}
	r.f32 = append(r.f32, x...)
}

// dot returns row i dotted with q[:width].
func (r *rows) dot(i int, q []float32) float32 {
	r, i = r.at(i)
	lo := i * r.width
	if r.typ == F16 {
		return kernels.DotF16(r.f16[lo:lo+r.width], q)
	}
	return kernels.Dot(r.f32[lo:lo+r.width], q)
}

// axpy adds w times row i to out[:width].
func (r *rows) axpy(out []float32, w float32, i int) {
	r, i = r.at(i)
	lo := i * r.width
	if r.typ == F16 {
		kernels.AxpyF16(out[:r.width], w, r.f16[lo:lo+r.width])
		return
	}
	kernels.Axpy(out[:r.width], w, r.f32[lo:lo+r.width])
}

// read writes row i, as float32, into dst[:width].
func (r *rows) read(dst []float32, i int) {
	r, i = r.at(i)
	lo := i * r.width
	if r.typ == F16 {
		kernels.F16sToF32s(dst[:r.width], r.f16[lo:lo+r.width])
		return
	}
	copy(dst[:r.width], r.f32[lo:lo+r.width])
}

// gather returns a new block holding rows idx (in that order) restricted to
// channels cols (all channels when cols is nil), with room for extra more rows.
func (r *rows) gather(idx, cols []int, extra int) rows {
	width := r.width
	if cols != nil {
		width = len(cols)
	}
	out := newRows(r.typ, width, len(idx)+extra)
	for _, i := range idx {
		b, j := r.at(i)
		lo := j * r.width
		if r.typ == F16 {
			src := b.f16[lo : lo+r.width]
			if cols == nil {
				out.f16 = append(out.f16, src...)
				continue
			}
			for _, c := range cols {
				out.f16 = append(out.f16, src[c])
			}
			continue
		}
		src := b.f32[lo : lo+r.width]
		if cols == nil {
			out.f32 = append(out.f32, src...)
			continue
		}
		for _, c := range cols {
			out.f32 = append(out.f32, src[c])
		}
	}
	return out
}

// removeRow deletes row i, shifting later rows down. A row of the shared
// part is never deleted in place: the block is first unshared.
func (r *rows) removeRow(i int) {
	if i < r.sn {
		r.unshare()
	}
	i -= r.sn
	lo, hi := i*r.width, (i+1)*r.width
	if r.typ == F16 {
		r.f16 = append(r.f16[:lo], r.f16[hi:]...)
		return
	}
	r.f32 = append(r.f32[:lo], r.f32[hi:]...)
}

// reserve makes room for extra more rows without reallocating later,
// reallocating now (exactly) if needed.
func (r *rows) reserve(extra int) { r.growTo(r.n() + extra) }

// unshare copies the shared part and the block's own rows into one owned
// block of the same capacity in rows (copy-on-write), dropping the
// reference to the shared part.
func (r *rows) unshare() {
	if r.shared == nil {
		return
	}
	s := r.shared
	if r.typ == F16 {
		r.f16 = append(append(make([]uint16, 0, len(s.f16)+cap(r.f16)), s.f16...), r.f16...)
	} else {
		r.f32 = append(append(make([]float32, 0, len(s.f32)+cap(r.f32)), s.f32...), r.f32...)
	}
	r.shared, r.sn = nil, 0
}

// freeze makes every row stored so far part of the shared, frozen prefix and
// leaves the block's own part empty, for Cache.Fork. Own rows become the
// frozen block without a copy when their allocation is full; otherwise (room
// reserved for tokens to come, which forks would hold forever) or when there
// already is a shared part (it stays one block: see Cache.Fork), the frozen
// block is a copy holding exactly the rows. With no own rows it changes
// nothing: the own part keeps its spare room, which stays this block's alone.
func (r *rows) freeze() {
	own := len(r.f32)
	if r.typ == F16 {
		own = len(r.f16)
	}
	if own == 0 {
		return
	}
	fz := &rows{typ: r.typ, width: r.width}
	switch {
	case r.shared == nil && r.typ == F16 && cap(r.f16) == len(r.f16):
		fz.f16 = r.f16
	case r.shared == nil && r.typ != F16 && cap(r.f32) == len(r.f32):
		fz.f32 = r.f32
	default:
		*fz = r.flat(0)
	}
	*r = rows{typ: r.typ, width: r.width, shared: fz, sn: fz.n()}
}

// flat returns an owned copy of the block without a shared part, holding its
// n() rows with room for spare more.
func (r *rows) flat(spare int) rows {
	out := newRows(r.typ, r.width, r.n()+spare)
	if s := r.shared; s != nil {
		out.f16 = append(out.f16, s.f16...)
		out.f32 = append(out.f32, s.f32...)
	}
	out.f16 = append(out.f16, r.f16...)
	out.f32 = append(out.f32, r.f32...)
	return out
}

// fork returns a block sharing r's shared part (call freeze first) with no
// own rows.
func (r *rows) fork() rows {
	return rows{typ: r.typ, width: r.width, shared: r.shared, sn: r.sn}
}
