package kernels

import (
	"fmt"
	"unsafe"
)

// Quantized activations and integer matrix products.
//
// A Q8 activation row is quantized in blocks of QK8 values, each block
// holding 32 int8 values in [-127, 127] and one float32 scale d (element i
// is q[i]×d), as llama.cpp quantizes a product's input to block_q8_0 (with
// an f32 scale here, not f16), with the block's sum of quants times its
// scale beside it. Matrices of types Q8_0 and Q4_0 then multiply their
// integer weights by these integers exactly and apply the two scales once
// per block; Q4_K and Q6_K do likewise with their sub-block scales applied
// to the integer sums (q8kquant.go; SetIntegerKQuants switches them on).
//
// The result of every tier (plain Go, AVX2, AVX-512 VNNI), of every tile
// shape and of the packed and unpacked weights is the same bit for bit,
// because each output is computed in one fixed order. For weight row w and
// activation row a, with B blocks:
//
//	acc = 0
//	for b in 0..B-1:                          // in order
//	    p = Σ_{i<32} w[32b+i]×a[32b+i]        // exact integer
//	    s = dw[b] × da[b]                     // float32, rounded
//	    acc += s × float32(p)                 // product rounded, then sum rounded
//	out = acc
//
// p is exact in every tier however the kernel forms it (AVX2's VPMADDUBSW
// cannot saturate on these operands, and the AVX-512 VNNI kernels, which
// multiply unsigned weights, add the integer corrections of actBlock), and
// |p| < 2^24, so its conversion is exact too; the float steps are single
// multiplies and adds (no fused multiply-add). The kernels keep one
// accumulator per output, so eight weight rows interleaved in one vector
// (packed weights, q8pack.go) are eight outputs at once.

// QK8 is the number of elements per block of a quantized activation row.
const QK8 = 32

// Acts is a batch of N activation rows of Cols float32 values each, the
// input of a matrix product, and, after QuantizeActs, their Q8 form, which
// matrices with quantized weights use instead of the floats. One Acts can
// feed several products (Q, K and V; gate and up), so a row is quantized
// once for all of them.
type Acts struct {
	X       []float32 // [N×Cols], row i at X[i*Cols:]
	N, Cols int
	q       []int8     // [N×Cols] quantized rows, nil unless quantized
	d       []float32  // per row: its B = Cols/QK8 block scales, then their sums (below)
	m       []actBlock // per row: B records for the packed kernels; nil unless QuantizeActs made a
}

// Each quantized row t has 2B words of d at d[2Bt:]: the block scales
// d[2Bt+b] and then the blocks' sums d[2Bt+B+b] = d[2Bt+b] × Σ q (the sum
// of the block's 32 quants, exact, times its scale, rounded once), which
// the K-quants' minimums multiply (q8kquant.go). m[Bt+b] holds the same
// scale and sum with the block's integer corrections.

// actBlock is one block of a quantized activation row as the packed
// kernels read it (24 bytes; the field offsets are q8gen.go's): the scale
// and the sum of d, and the corrections that make exact the integer sums of
// kernels that multiply the activations by unsigned stand-ins for signed
// weights: Q8_0's w+128, Q4_0's nibble w+8 and Q6_K's 6-bit w+32 (whose
// sub-blocks of 16 have scales of their own).
type actBlock struct {
	d, sum       float32 // the block's scale, and scale × Σq
	c128, c8     int32   // −128×Σq and −8×Σq
	c32lo, c32hi int32   // −32×Σq over elements 0..15 and 16..31
}

// FloatActs wraps n rows of cols values in x, unquantized: every matrix
// multiplies them with its float kernels.
func FloatActs(x []float32, n, cols int) Acts {
	return Acts{X: x[:n*cols], N: n, Cols: cols}
}

// ActsWords returns the float32 words of storage QuantizeActs needs for n
// rows of cols values (cols a multiple of QK8): half the float rows (the
// quants, 8/32; the scales and sums, 2/32; the packed kernels' records,
// 6/32).
func ActsWords(n, cols int) int {
	return 8*n*cols/QK8 + (n*cols+3)/4
}

// QuantizeActs quantizes n rows of cols values in x into buf, which must
// hold ActsWords(n, cols) words and not overlap x, and returns both forms.
// cols must be a multiple of QK8. Per block of QK8 values, d = max|x|/127
// and q = round(x/d), half away from zero, clamped to [-127, 127] (NaN
// becomes 0; the scale then carries NaN or Inf into the products).
func QuantizeActs(buf, x []float32, n, cols int) Acts {
	if cols%QK8 != 0 {
		panic(fmt.Sprintf("kernels: QuantizeActs: row length %d is not a multiple of %d", cols, QK8))
	}
	nb := 2 * n * cols / QK8
	qw := (n*cols + 3) / 4
	buf = buf[:ActsWords(n, cols)]
	a := FloatActs(x, n, cols)
	a.d = buf[:nb:nb]
	a.q = unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(buf[nb:]))), n*cols)
	a.m = unsafe.Slice((*actBlock)(unsafe.Pointer(unsafe.SliceData(buf[nb+qw:]))), n*cols/QK8)
	for t := 0; t < n; t++ {
		quantizeRow(a.q[t*cols:(t+1)*cols], a.scales(t), a.sums(t), a.m[t*cols/QK8:(t+1)*cols/QK8], a.X[t*cols:(t+1)*cols])
	}
	return a
}

// quantizeRow quantizes the row x as quantizeQ8 does, into quants q,
// scales d and sums, and writes its blocks' records m.
func quantizeRow(q []int8, d, sums []float32, m []actBlock, x []float32) {
	nb := len(d)
	q, sums, m, x = q[:nb*QK8], sums[:nb], m[:nb], x[:nb*QK8]
	if !useAVX2 {
		quantizeQ8(q, d, sums, x)
		fillActBlocks(m, q, d, sums)
		return
	}
	// The kernel leaves the sums of each block's halves in its record's
	// c32lo and c32hi, and stops at blocks with a NaN or an infinity.
	for b := 0; b < nb; {
		b += quantizeQ8Blocks(q[b*QK8:], d[b:], m[b:], x[b*QK8:], nb-b)
		if b < nb {
			quantizeQ8(q[b*QK8:(b+1)*QK8], d[b:b+1], sums[b:b+1], x[b*QK8:(b+1)*QK8])
			fillActBlocks(m[b:b+1], q[b*QK8:], d[b:b+1], sums[b:b+1])
			m[b].c32lo, m[b].c32hi = m[b].c32lo/-32, m[b].c32hi/-32
			b++
		}
	}
	for b := range m {
		lo, hi := m[b].c32lo, m[b].c32hi
		sums[b] = d[b] * float32(lo+hi)
		m[b] = actBlock{d: d[b], sum: sums[b], c128: -128 * (lo + hi), c8: -8 * (lo + hi), c32lo: -32 * lo, c32hi: -32 * hi}
	}
}

// Quantized reports whether a holds the Q8 form of its rows.
func (a *Acts) Quantized() bool { return a.q != nil }

// scales returns the block scales of quantized row t.
func (a *Acts) scales(t int) []float32 {
	nb := a.Cols / QK8
	return a.d[2*nb*t : 2*nb*t+nb : 2*nb*t+nb]
}

// sums returns the block sums (scale × Σ q) of quantized row t.
func (a *Acts) sums(t int) []float32 {
	nb := a.Cols / QK8
	return a.d[2*nb*t+nb : 2*nb*(t+1) : 2*nb*(t+1)]
}

// quantizeQ8 quantizes x into blocks: q[i] with scale d[i/QK8], and sets
// sums[b] = d[b] × Σ q over block b.
func quantizeQ8(q []int8, d, sums, x []float32) {
	for b := range d {
		xs, qs := x[b*QK8:(b+1)*QK8], q[b*QK8:(b+1)*QK8]
		var amax float32
		for _, v := range xs {
			amax = max(amax, abs32(v))
		}
		s := amax / 127
		var id float32
		if s != 0 {
			id = 1 / s
		}
		d[b] = s
		for i, v := range xs {
			f := float32(v * id)
			switch {
			case f >= 127:
				qs[i] = 127
			case f <= -127:
				qs[i] = -127
			case f >= 0:
				qs[i] = int8(f + 0.5)
			case f < 0:
				qs[i] = int8(f - 0.5)
			default: // NaN
				qs[i] = 0
			}
		}
		var sum int32
		for _, v := range qs {
			sum += int32(v)
		}
		sums[b] = d[b] * float32(sum)
	}
}

// fillActBlocks writes the records of a row's blocks from its quants q,
// scales d and sums.
func fillActBlocks(m []actBlock, q []int8, d, sums []float32) {
	for b := range m {
		var lo, hi int32
		for i, v := range q[b*QK8 : (b+1)*QK8] {
			if i < QK8/2 {
				lo += int32(v)
			} else {
				hi += int32(v)
			}
		}
		m[b] = actBlock{d: d[b], sum: sums[b], c128: -128 * (lo + hi), c8: -8 * (lo + hi), c32lo: -32 * lo, c32hi: -32 * hi}
	}
}

// TakesQ8 reports whether products with m use quantized activations when
// they are given (Acts.Quantized): the integer kernels exist for its type.
func (m *Matrix) TakesQ8() bool {
	switch m.Type {
	case Q8_0, Q4_0:
		return true
	case Q4_K, Q6_K:
		return integerKQuants
	}
	return false
}

// q8Shape is a tile kernel's size: rows × tokens.
type q8Shape struct{ r, t int }

// q8Tile is a tile kernel for unpacked weights: out[t*ostride+r] (in
// float32 elements) for the tile's rows r and tokens t, from weight rows at
// w (wstride bytes apart), token rows of quants at a (astride bytes apart)
// and their scales at ad (adstride bytes apart; each token's block sums
// follow its nb scales), over nb blocks.
type q8Tile func(w *byte, wstride uintptr, a *int8, astride uintptr, ad *float32, adstride uintptr, nb int, out *float32, ostride uintptr)

// q8Kernels is a tier's set of tile kernels for one weight type in its
// unpacked layout (rows as they are in the file), for products that cannot
// take packed weights: a main tile, its one-token column, a matrix-vector
// tile, and one-row tiles for the rows left over. In this version the main
// tile is eight rows by one token, the same as vec and mainCol, and rowMain
// is one, so that any caller's tiling reaches every shape.
type q8Kernels struct {
	main, mainCol, vec, rowMain, one q8Tile
	mainShape                        q8Shape // main's; mainCol is mainShape.r × 1, rowMain 1 × mainShape.t
	vecRows                          int     // vec's rows (× 1 token)
}

// q8Product computes rows [lo, hi) of the product of m and the quantized a
// from m's unpacked rows.
func q8Product(m *Matrix, out []float32, a *Acts, lo, hi int) {
	k := q8KernelsFor(m.Type)
	if k == nil || lo >= hi {
		q8ProductGeneric(m, out, a, lo, hi)
		return
	}
	n, rows, nb := a.N, m.Rows, m.Cols/QK8
	rb := uintptr(m.Type.RowBytes(m.Cols))
	w := func(r int) *byte { return &m.Data[uintptr(r)*rb] }
	q := func(t int) *int8 { return &a.q[t*m.Cols] }
	d := func(t int) *float32 { return &a.d[2*t*nb] }
	o := func(r, t int) *float32 { return &out[t*rows+r] }
	ab, db, ob := uintptr(m.Cols), uintptr(8*nb), uintptr(4*rows)
	r := lo
	for ; r+k.vecRows <= hi; r += k.vecRows {
		for t := 0; t < n; t++ {
			k.vec(w(r), rb, q(t), ab, d(t), db, nb, o(r, t), ob)
		}
	}
	for ; r < hi; r++ {
		for t := 0; t < n; t++ {
			k.one(w(r), rb, q(t), ab, d(t), db, nb, o(r, t), ob)
		}
	}
}

// q8ProductGeneric is q8Product in plain Go, one output at a time.
func q8ProductGeneric(m *Matrix, out []float32, a *Acts, lo, hi int) {
	for r := lo; r < hi; r++ {
		w := m.row(r)
		for t := 0; t < a.N; t++ {
			q, d := a.q[t*m.Cols:(t+1)*m.Cols], a.scales(t)
			var v float32
			switch m.Type {
			case Q8_0:
				v = dotQ8_0Q8Generic(w, q, d)
			case Q4_0:
				v = dotQ4_0Q8Generic(w, q, d)
			case Q4_K:
				v = dotQ4_KQ8Generic(w, q, d, a.sums(t))
			case Q6_K:
				v = dotQ6_KQ8Generic(w, q, d)
			}
			out[t*m.Rows+r] = v
		}
	}
}

// dotQ8_0Q8Generic returns the Q8_0 row w times the Q8 activation row with
// quants q and block scales d, in the order of the top of this file.
func dotQ8_0Q8Generic(w []byte, q []int8, d []float32) float32 {
	var acc float32
	w, q = w[:len(d)*BlockBytesQ8_0], q[:len(d)*QK8]
	for b, da := range d {
		blk := w[b*BlockBytesQ8_0:]
		ws, qs := (*[QK8]byte)(blk[2:]), (*[QK8]int8)(q[b*QK8:])
		var p int32
		for i, v := range qs {
			p += int32(int8(ws[i])) * int32(v)
		}
		s := float32(scale(blk) * da)
		acc += float32(s * float32(p))
	}
	return acc
}

// dotQ4_0Q8Generic returns the Q4_0 row w times the Q8 activation row with
// quants q and block scales d, in the order of the top of this file.
func dotQ4_0Q8Generic(w []byte, q []int8, d []float32) float32 {
	var acc float32
	w, q = w[:len(d)*BlockBytesQ4_0], q[:len(d)*QK8]
	for b, da := range d {
		blk := w[b*BlockBytesQ4_0:]
		ws, qs := (*[QK4_0 / 2]byte)(blk[2:]), (*[QK8]int8)(q[b*QK8:])
		var p int32
		// Byte i holds element i (low nibble) and element i+16 (high).
		for i, v := range ws {
			p += (int32(v&0xf)-8)*int32(qs[i]) + (int32(v>>4)-8)*int32(qs[i+16])
		}
		s := float32(scale(blk) * da)
		acc += float32(s * float32(p))
	}
	return acc
}
