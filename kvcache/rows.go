package kvcache

import "github.com/thinkv/thinkv/kernels"

// rows is a growable block of fixed-width vectors stored as f32 or f16.
// Its capacity is set when it is made and changes only through growTo and
// reserve (Head grows it as tokens arrive).
type rows struct {
	typ   DType
	width int
	f32   []float32
	f16   []uint16
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
		return len(r.f16) / r.width
	}
	return len(r.f32) / r.width
}

// bytes returns the bytes allocated for the block.
func (r *rows) bytes() int64 {
	if r.typ == F16 {
		return 2 * int64(cap(r.f16))
	}
	return 4 * int64(cap(r.f32))
}

// capRows returns how many rows fit without reallocating.
func (r *rows) capRows() int {
	if r.width == 0 {
		return 0
	}
	if r.typ == F16 {
		return cap(r.f16) / r.width
	}
	return cap(r.f32) / r.width
}

// growTo reallocates the block to hold exactly capRows rows, keeping its
// contents; it does nothing if it already holds that many.
func (r *rows) growTo(capRows int) {
	want := capRows * r.width
	if r.typ == F16 && cap(r.f16) < want {
		r.f16 = append(make([]uint16, 0, want), r.f16...)
	} else if r.typ != F16 && cap(r.f32) < want {
		r.f32 = append(make([]float32, 0, want), r.f32...)
	}
}

// heldBytes returns the bytes of the stored rows (not of spare capacity).
func (r *rows) heldBytes() int64 {
	if r.typ == F16 {
		return 2 * int64(len(r.f16))
	}
	return 4 * int64(len(r.f32))
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
	lo := i * r.width
	if r.typ == F16 {
		return kernels.DotF16(r.f16[lo:lo+r.width], q)
	}
	return kernels.Dot(r.f32[lo:lo+r.width], q)
}

// axpy adds w times row i to out[:width].
func (r *rows) axpy(out []float32, w float32, i int) {
	lo := i * r.width
	if r.typ == F16 {
		kernels.AxpyF16(out[:r.width], w, r.f16[lo:lo+r.width])
		return
	}
	kernels.Axpy(out[:r.width], w, r.f32[lo:lo+r.width])
}

// read writes row i, as float32, into dst[:width].
func (r *rows) read(dst []float32, i int) {
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
		lo := i * r.width
		if r.typ == F16 {
			src := r.f16[lo : lo+r.width]
			if cols == nil {
				out.f16 = append(out.f16, src...)
				continue
			}
			for _, c := range cols {
				out.f16 = append(out.f16, src[c])
			}
			continue
		}
		src := r.f32[lo : lo+r.width]
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

// removeRow deletes row i, shifting later rows down.
func (r *rows) removeRow(i int) {
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
