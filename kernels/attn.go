package kernels

import (
	"fmt"
	"math"
)

// Attention kernels: a block of cached key rows dotted with a group of
// queries, the softmax's exponentials, and a block of value rows weighted
// into a group of outputs. Each reads its rows once for the whole group.
//
// Determinism. Every result depends only on its own inputs (one key and one
// query; one output element and its weights), never on how many rows or
// queries share the call: the assembly tiles (four keys × two queries, four
// keys × one query, one key × one query; four or one outputs) all compute a
// given pair or element with the same instructions in the same order. So a
// query attends to the same bits alone or in a batch. The AVX-512 tier
// (attn512_amd64.s) keeps this with its own tiles (four keys × up to four
// queries, a last partial tile padded), and its value accumulation and
// exponentials give the AVX2 ones' bits; only its dots round differently.

// AttnDotsF16 sets dst[j·ldd+i] = scale·(kᵢ·qⱼ) for the n = len(keys)/w half
// rows kᵢ = keys[i·w:(i+1)·w] and the m = len(q)/w queries qⱼ = q[j·w:(j+1)·w].
// Each dot sums channels in eight lanes (channel c in lane c mod 8, up to the
// last multiple of 8), reduces the lanes pairwise, adds the last w mod 8
// products in order and then scales; on the AVX-512 tier, for w a multiple
// of 16, it sums in sixteen lanes (c mod 16) and adds lane l+8 to lane l
// first. It panics if the slices are too short.
func AttnDotsF16(dst []float32, ldd int, keys []uint16, q []float32, w int, scale float32) {
	n, m := attnDotsCheck("AttnDotsF16", len(dst), ldd, len(keys), len(q), w)
	if n == 0 || m == 0 {
		return
	}
	w8 := w &^ 7
	if !useAVX2 || w8 == 0 {
		attnDotsGeneric(dst, ldd, n, m, w, scale, func(i, c int) float32 { return f16Table[keys[i*w+c]] }, q)
		return
	}
	if useAVX512 && w%16 == 0 && w <= maxDots512Width {
		attnDotsF16AVX512(dst, ldd, keys, q, n, m, w, scale)
		return
	}
	s := scale
	if w8 != w {
		s = 1
	}
	n4 := n &^ 3
	j := 0
	if n4 > 0 {
		for ; j+2 <= m; j += 2 {
			dotsF16K4Q2AVX2(dst[j*ldd:], ldd, keys, n4, w, q[j*w:], s)
		}
		for ; j < m; j++ {
			dotsF16K4Q1AVX2(dst[j*ldd:], keys, n4, w, q[j*w:], s)
		}
	}
	if n4 < n {
		for j := 0; j < m; j++ {
			dotsF16K1AVX2(dst[j*ldd+n4:], keys[n4*w:], n-n4, w, q[j*w:], s)
		}
	}
	if w8 != w {
		for j := 0; j < m; j++ {
			qj := q[j*w : (j+1)*w]
			for i := 0; i < n; i++ {
				k := keys[i*w : (i+1)*w]
				var t float32
				for c := w8; c < w; c++ {
					t += f16Table[k[c]] * qj[c]
				}
				dst[j*ldd+i] = (dst[j*ldd+i] + t) * scale
			}
		}
	}
}

// AttnDotsF32 is AttnDotsF16 for float32 key rows.
func AttnDotsF32(dst []float32, ldd int, keys []float32, q []float32, w int, scale float32) {
	n, m := attnDotsCheck("AttnDotsF32", len(dst), ldd, len(keys), len(q), w)
	if n == 0 || m == 0 {
		return
	}
	w8 := w &^ 7
	if !useAVX2 || w8 == 0 {
		attnDotsGeneric(dst, ldd, n, m, w, scale, func(i, c int) float32 { return keys[i*w+c] }, q)
		return
	}
	s := scale
	if w8 != w {
		s = 1
	}
	n4 := n &^ 3
	j := 0
	if n4 > 0 {
		for ; j+2 <= m; j += 2 {
			dotsF32K4Q2AVX2(dst[j*ldd:], ldd, keys, n4, w, q[j*w:], s)
		}
		for ; j < m; j++ {
			dotsF32K4Q1AVX2(dst[j*ldd:], keys, n4, w, q[j*w:], s)
		}
	}
	if n4 < n {
		for j := 0; j < m; j++ {
			dotsF32K1AVX2(dst[j*ldd+n4:], keys[n4*w:], n-n4, w, q[j*w:], s)
		}
	}
	if w8 != w {
		for j := 0; j < m; j++ {
			qj := q[j*w : (j+1)*w]
			for i := 0; i < n; i++ {
				k := keys[i*w : (i+1)*w]
				var t float32
				for c := w8; c < w; c++ {
					t += k[c] * qj[c]
				}
				dst[j*ldd+i] = (dst[j*ldd+i] + t) * scale
			}
		}
	}
}

// attnDotsCheck validates AttnDots* arguments and returns the numbers of
// keys and queries.
func attnDotsCheck(name string, ndst, ldd, nkeys, nq, w int) (n, m int) {
	if w <= 0 || nkeys%w != 0 || nq%w != 0 {
		panic(fmt.Sprintf("kernels: %s: w=%d does not divide len(keys)=%d and len(q)=%d", name, w, nkeys, nq))
	}
	n, m = nkeys/w, nq/w
	if m > 0 && n > 0 && (ldd < n || ndst < (m-1)*ldd+n) {
		panic(fmt.Sprintf("kernels: %s: dst of %d with stride %d cannot hold %d×%d", name, ndst, ldd, m, n))
	}
	return n, m
}

// attnDotsGeneric is AttnDots* in plain Go, in the same order of sums (with
// separate rounding of products and sums instead of fused multiply-adds).
func attnDotsGeneric(dst []float32, ldd, n, m, w int, scale float32, key func(i, c int) float32, q []float32) {
	w8 := w &^ 7
	for j := 0; j < m; j++ {
		qj := q[j*w : (j+1)*w]
		for i := 0; i < n; i++ {
			var l [8]float32
			for c := 0; c < w8; c += 8 {
				for k := range l {
					l[k] += key(i, c+k) * qj[c+k]
				}
			}
			s := ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
			for c := w8; c < w; c++ {
				s += key(i, c) * qj[c]
			}
			dst[j*ldd+i] = s * scale
		}
	}
}

// AttnAccumF16 adds Σᵢ p[j·ldp+i]·vᵢ to out[j·ldo:j·ldo+w] for each of the m
// outputs j, over the n = len(v)/w half rows vᵢ = v[i·w:(i+1)·w], in row
// order (one fused multiply-add per element and row on the assembly path).
// Each value row is read once for a group of up to four outputs. It panics
// if the slices are too short.
func AttnAccumF16(out []float32, ldo int, p []float32, ldp, m int, v []uint16, w int) {
	n := attnAccumCheck("AttnAccumF16", len(out), ldo, len(p), ldp, m, len(v), w)
	if n == 0 || m == 0 {
		return
	}
	w8 := w &^ 7
	if !useAVX2 || w8 == 0 {
		attnAccumGeneric(out, ldo, p, ldp, m, n, 0, w, func(i, c int) float32 { return f16Table[v[i*w+c]] })
		return
	}
	j := 0
	for ; j+4 <= m; j += 4 {
		if useAVX512 {
			accF16Q4AVX512(out[j*ldo:], ldo, p[j*ldp:], ldp, v, n, w)
		} else {
			accF16Q4AVX2(out[j*ldo:], ldo, p[j*ldp:], ldp, v, n, w)
		}
	}
	for ; j < m; j++ {
		if useAVX512 {
			accF16Q1AVX512(out[j*ldo:], ldo, p[j*ldp:], ldp, v, n, w)
		} else {
			accF16Q1AVX2(out[j*ldo:], p[j*ldp:], v, n, w)
		}
	}
	if w8 != w {
		attnAccumGeneric(out, ldo, p, ldp, m, n, w8, w, func(i, c int) float32 { return f16Table[v[i*w+c]] })
	}
}

// AttnAccumF32 is AttnAccumF16 for float32 value rows.
func AttnAccumF32(out []float32, ldo int, p []float32, ldp, m int, v []float32, w int) {
	n := attnAccumCheck("AttnAccumF32", len(out), ldo, len(p), ldp, m, len(v), w)
	if n == 0 || m == 0 {
		return
	}
	w8 := w &^ 7
	if !useAVX2 || w8 == 0 {
		attnAccumGeneric(out, ldo, p, ldp, m, n, 0, w, func(i, c int) float32 { return v[i*w+c] })
		return
	}
	j := 0
	for ; j+4 <= m; j += 4 {
		accF32Q4AVX2(out[j*ldo:], ldo, p[j*ldp:], ldp, v, n, w)
	}
	for ; j < m; j++ {
		accF32Q1AVX2(out[j*ldo:], p[j*ldp:], v, n, w)
	}
	if w8 != w {
		attnAccumGeneric(out, ldo, p, ldp, m, n, w8, w, func(i, c int) float32 { return v[i*w+c] })
	}
}

func attnAccumCheck(name string, nout, ldo, np, ldp, m, nv, w int) int {
	if w <= 0 || nv%w != 0 || m < 0 {
		panic(fmt.Sprintf("kernels: %s: w=%d does not divide len(v)=%d (m=%d)", name, w, nv, m))
	}
	n := nv / w
	if m > 0 && n > 0 && (ldo < w || nout < (m-1)*ldo+w || ldp < n || np < (m-1)*ldp+n) {
		panic(fmt.Sprintf("kernels: %s: out %d (stride %d) or p %d (stride %d) too short for %d×%d rows of %d", name, nout, ldo, np, ldp, m, n, w))
	}
	return n
}

// attnAccumGeneric is AttnAccum* in plain Go for channels [c0, w).
func attnAccumGeneric(out []float32, ldo int, p []float32, ldp, m, n, c0, w int, val func(i, c int) float32) {
	for j := 0; j < m; j++ {
		o := out[j*ldo+c0 : j*ldo+w]
		pj := p[j*ldp : j*ldp+n]
		for i, a := range pj {
			for c := range o {
				o[c] += a * val(i, c0+c)
			}
		}
	}
}

// Exp returns e^x in float32: within 2 ulp of the exact value for x in
// [ExpMin, ExpMax] (TestExpAccuracy measures it over every float32 there on
// request, and a sample always), 0 below ExpMin (where e^x < 2⁻¹²⁶, so the
// absolute error is below 1.2e-38; −Inf included), +Inf above ExpMax, and
// NaN for NaN. It is the scalar form of ExpShift's algorithm: x = n·ln 2 + r
// with |r| ≤ ln 2/2, a degree-7 polynomial for e^r (Cephes expf's
// coefficients) and 2ⁿ put in the exponent bits.
func Exp(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < ExpMin:
		return 0
	case x > ExpMax:
		return float32(math.Inf(1))
	}
	n := float32(math.RoundToEven(float64(x * expLog2e)))
	r := x - n*expC1
	r = r - n*expC2
	y := float32(expP0)
	y = y*r + expP1
	y = y*r + expP2
	y = y*r + expP3
	y = y*r + expP4
	y = y*r + expP5
	y = y*(r*r) + r
	y++
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// The range of Exp and ExpShift: e^ExpMin = 2⁻¹²⁶ (the smallest normal
// float32), and ExpMax·log₂e rounds to 2¹²⁷.
const (
	ExpMin = -87.33654
	ExpMax = 88.3762
)

// Exp's constants: log₂e; ln 2 split so that n·expC1 is exact; the
// polynomial's coefficients.
const (
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
)

// ExpShift replaces each x[i] by e^(x[i]−shift) (the difference rounded to
// float32 first, then as Exp) and returns their sum: x[i] is added to lane
// i mod 8 for i up to the last multiple of 8, the lanes are reduced
// pairwise, and the last len(x) mod 8 terms are added in order. So for a
// length that is a multiple of 8, appending −Inf entries (which become 0)
// does not change the sum's bits.
func ExpShift(x []float32, shift float32) float32 {
	n8 := len(x) &^ 7
	var s float32
	if useAVX512 && n8 > 0 {
		s = expShiftAVX512(x[:n8], shift)
	} else if useAVX2 && n8 > 0 {
		s = expShiftAVX2(x[:n8], shift)
	} else {
		var l [8]float32
		for i := 0; i < n8; i += 8 {
			for k := range l {
				e := Exp(x[i+k] - shift)
				x[i+k] = e
				l[k] += e
			}
		}
		s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
	}
	for i := n8; i < len(x); i++ {
		e := Exp(x[i] - shift)
		x[i] = e
		s += e
	}
	return s
}

// Max returns the largest element of x (−Inf for an empty x); NaNs are
// ignored by the assembly path.
func Max(x []float32) float32 {
	n8 := len(x) &^ 7
	m := float32(math.Inf(-1))
	if useAVX2 && n8 > 0 {
		m = maxAVX2(x[:n8])
	} else {
		n8 = 0
	}
	for _, v := range x[n8:] {
		if v > m {
			m = v
		}
	}
	return m
}

// Scale multiplies every element of x by a (the same bits on every path:
// one rounded product per element).
func Scale(x []float32, a float32) {
	n8 := len(x) &^ 7
	if useAVX2 && n8 > 0 {
		scaleAVX2(x[:n8], a)
	} else {
		n8 = 0
	}
	for i := n8; i < len(x); i++ {
		x[i] *= a
	}
}

// maxDots512Width is the widest row the AVX-512 dots take: the keys of a
// last tile of fewer than four are copied to the stack, four rows of it.
const maxDots512Width = 256

// attnDotsF16AVX512 is AttnDotsF16 on the AVX-512 tier, for w a multiple of
// 16 up to maxDots512Width: tiles of four keys × up to four queries, and
// the last n mod 4 keys padded to a tile of four (with copies of the last
// key) on the stack, so that every pair is computed by the same
// instructions (see dotsF16K4Q4AVX512).
func attnDotsF16AVX512(dst []float32, ldd int, keys []uint16, q []float32, n, m, w int, scale float32) {
	n4 := n &^ 3
	for j := 0; j < m; j += 4 {
		mq := min(4, m-j)
		if n4 > 0 {
			dotsF16K4Q4AVX512(dst[j*ldd:], ldd, keys, n4, w, q[j*w:], mq, scale)
		}
		if n4 < n {
			var pad [4 * maxDots512Width]uint16
			var out [4 * 4]float32
			for k := 0; k < 4; k++ {
				i := min(n4+k, n-1)
				copy(pad[k*w:(k+1)*w], keys[i*w:(i+1)*w])
			}
			dotsF16K4Q4AVX512(out[:], 4, pad[:4*w], 4, w, q[j*w:], mq, scale)
			for jj := 0; jj < mq; jj++ {
				copy(dst[(j+jj)*ldd+n4:(j+jj)*ldd+n], out[jj*4:jj*4+n-n4])
			}
		}
	}
}
