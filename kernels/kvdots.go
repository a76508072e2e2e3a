package kernels

import (
	"fmt"
	"unsafe"
)

// Integer attention dots for quantized KV caches: a block of cached key
// rows stored as GGUF Q8_0 or Q4_0 blocks is exactly a small matrix of that
// type, and a group of queries quantized once as Q8 activation rows is its
// input, so the scores are the integer products of q8act.go, tiled the same
// way, with the output written at a stride of the caller's choosing.

// PaddedCols returns width rounded up to a whole number of QK8 blocks: the
// columns of a quantized row of width values, its last block zero-padded.
func PaddedCols(width int) int { return (width + QK8 - 1) / QK8 * QK8 }

// QuantizeActsPadded quantizes n rows of width values (row t at
// x[t·width:]) as Q8 activation rows of PaddedCols(width) columns, the last
// block of each padded with zeros, into buf, which must hold
// ActsWords(n, PaddedCols(width)) words and not overlap x. Each block is
// quantized as QuantizeActs does, so for a width that is a multiple of QK8
// the result is QuantizeActs(buf, x, n, width) bit for bit. The returned
// Acts has no float rows (X is nil): only the integer products (KVDots) may
// read it.
func QuantizeActsPadded(buf, x []float32, n, width int) Acts {
	cols := PaddedCols(width)
	nb := cols / QK8
	words := 2 * n * nb
	buf = buf[:ActsWords(n, cols)]
	x = x[:n*width]
	a := Acts{N: n, Cols: cols, d: buf[:words:words]}
	a.q = unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(buf[words:]))), n*cols)
	var pad [QK8]float32
	for t := 0; t < n; t++ {
		row := x[t*width : (t+1)*width]
		for b := 0; b < nb; b++ {
			src := row[b*QK8 : min((b+1)*QK8, width)]
			if len(src) < QK8 {
				pad = [QK8]float32{}
				copy(pad[:], src)
				src = pad[:]
			}
			i := 2*nb*t + b
			quantizeQ8(a.q[(t*nb+b)*QK8:(t*nb+b+1)*QK8], a.d[i:i+1], a.d[i+nb:i+nb+1], src)
		}
	}
	return a
}

// KVDots sets dst[j·ldd+i] = kᵢ·aⱼ for the n = len(keys)/t.RowBytes(a.Cols)
// rows kᵢ of type t (Q8_0 or Q4_0) in keys and the a.N quantized rows aⱼ of
// a: each output exactly as MulActs computes it for a matrix of those rows
// (see the top of q8act.go), whatever n, a.N and the tile that computes it.
// It panics if t is not Q8_0 or Q4_0, if a is not quantized, or if keys or
// dst do not fit.
func KVDots(t DType, dst []float32, ldd int, keys []byte, a *Acts) {
	if t != Q8_0 && t != Q4_0 {
		panic(fmt.Sprintf("kernels: KVDots: type %v is not Q8_0 or Q4_0", t))
	}
	if !a.Quantized() {
		panic("kernels: KVDots: activations not quantized")
	}
	rb := t.RowBytes(a.Cols)
	if len(keys)%rb != 0 {
		panic(fmt.Sprintf("kernels: KVDots: %d bytes of keys are not whole rows of %d", len(keys), rb))
	}
	n, m := len(keys)/rb, a.N
	if n == 0 || m == 0 {
		return
	}
	if ldd < n || len(dst) < (m-1)*ldd+n {
		panic(fmt.Sprintf("kernels: KVDots: dst of %d with stride %d cannot hold %d×%d", len(dst), ldd, m, n))
	}
	nb := a.Cols / QK8
	k := q8KernelsFor(t)
	if k == nil {
		dot := dotQ8_0Q8Generic
		if t == Q4_0 {
			dot = dotQ4_0Q8Generic
		}
		for j := 0; j < m; j++ {
			q, d := a.q[j*a.Cols:(j+1)*a.Cols], a.scales(j)
			for i := 0; i < n; i++ {
				dst[j*ldd+i] = dot(keys[i*rb:(i+1)*rb], q, d)
			}
		}
		return
	}
	// The tiling of q8Product, with outputs ldd apart per query.
	w := func(r int) *byte { return &keys[r*rb] }
	q := func(t int) *int8 { return &a.q[t*a.Cols] }
	d := func(t int) *float32 { return &a.d[2*t*nb] }
	o := func(r, t int) *float32 { return &dst[t*ldd+r] }
	wb, ab, db, ob := uintptr(rb), uintptr(a.Cols), uintptr(8*nb), uintptr(4*ldd)
	R, T := k.mainShape.r, k.mainShape.t
	r := 0
	if m < T {
		for ; r+k.vecRows <= n; r += k.vecRows {
			for t := 0; t < m; t++ {
				k.vec(w(r), wb, q(t), ab, d(t), db, nb, o(r, t), ob)
			}
		}
		for ; r+R <= n; r += R {
			for t := 0; t < m; t++ {
				k.mainCol(w(r), wb, q(t), ab, d(t), db, nb, o(r, t), ob)
			}
		}
	} else {
		for ; r+R <= n; r += R {
			t := 0
			for ; t+T <= m; t += T {
				k.main(w(r), wb, q(t), ab, d(t), db, nb, o(r, t), ob)
			}
			for ; t < m; t++ {
				k.mainCol(w(r), wb, q(t), ab, d(t), db, nb, o(r, t), ob)
			}
		}
	}
	for ; r < n; r++ {
		t := 0
		for ; t+T <= m; t += T {
			k.rowMain(w(r), wb, q(t), ab, d(t), db, nb, o(r, t), ob)
		}
		for ; t < m; t++ {
			k.one(w(r), wb, q(t), ab, d(t), db, nb, o(r, t), ob)
		}
	}
}
