package kernels

import "math"

// Quantizers for the formats of kquant.go (all but Q2_K and Q3_K, which
// thinkv reads but does not write).
//
// Q4_1, Q5_0 and Q5_1 follow ggml's reference quantizers: per block of 32,
// Q5_0 maps the value of largest magnitude to −16 (d = m/−16) and rounds
// x/d + 16.5 down; Q4_1 and Q5_1 take d = (max−min)/(2ᵇ−1), store min as m
// and round (x−min)/d to nearest.
//
// The K-quants are thinkv's own round-to-nearest with a scale search, not
// ggml's importance-weighted search (so files differ from llama-quantize's
// bit for bit, though not in layout): for each sub-block (32 elements in
// Q4_K and Q5_K, 16 in Q6_K) it tries 11 candidate scales around the one
// that maps the range onto the integer grid, ±1 level in steps of 0.2 (for
// Q6_K, 11 that map the value of largest magnitude near −32 and 11 near
// +31), rounds every element for each,
// refits the scale (and, in Q4_K/Q5_K, the minimum) by least squares to
// those integers, and keeps the candidate with the least squared error. The
// sub-block scales (and minimums) are then quantized to 6 bits (Q4_K, Q5_K:
// against d = max/63 and dmin = max/63) or 8 signed bits (Q6_K: the largest
// magnitude becomes −128), d rounded to f16, and every element rounded
// again against its sub-block's final scale.

// QuantizeQ4_1 encodes src as Q4_1 blocks into dst; it panics unless
// len(src) is a multiple of QK4_1 and len(dst) is exactly its blocks.
func QuantizeQ4_1(dst []byte, src []float32) {
	checkBlocks("QuantizeQ4_1", len(src), QK4_1, BlockBytesQ4_1, len(dst))
	for len(src) > 0 {
		x, blk := src[:QK4_1], dst[:BlockBytesQ4_1]
		d, m, id := minMaxScale(x, 15)
		putScale(blk, d)
		putScale(blk[2:], m)
		for i := range 16 {
			blk[4+i] = clampRound((x[i]-m)*id, 0, 15) | clampRound((x[i+16]-m)*id, 0, 15)<<4
		}
		src, dst = src[QK4_1:], dst[BlockBytesQ4_1:]
	}
}

// QuantizeQ5_0 encodes src as Q5_0 blocks into dst; it panics unless
// len(src) is a multiple of QK5_0 and len(dst) is exactly its blocks.
func QuantizeQ5_0(dst []byte, src []float32) {
	checkBlocks("QuantizeQ5_0", len(src), QK5_0, BlockBytesQ5_0, len(dst))
	for len(src) > 0 {
		x, blk := src[:QK5_0], dst[:BlockBytesQ5_0]
		var amax, mx float32
		for _, v := range x {
			if a := abs32(v); amax < a {
				amax, mx = a, v
			}
		}
		d := mx / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putScale(blk, d)
		var qh uint32
		for i := range 16 {
			lo, hi := trunc5(x[i]*id), trunc5(x[i+16]*id)
			blk[6+i] = lo&15 | (hi&15)<<4
			qh |= uint32(lo>>4)<<i | uint32(hi>>4)<<(i+16)
		}
		putU32(blk[2:], qh)
		src, dst = src[QK5_0:], dst[BlockBytesQ5_0:]
	}
}

// QuantizeQ5_1 encodes src as Q5_1 blocks into dst; it panics unless
// len(src) is a multiple of QK5_1 and len(dst) is exactly its blocks.
func QuantizeQ5_1(dst []byte, src []float32) {
	checkBlocks("QuantizeQ5_1", len(src), QK5_1, BlockBytesQ5_1, len(dst))
	for len(src) > 0 {
		x, blk := src[:QK5_1], dst[:BlockBytesQ5_1]
		d, m, id := minMaxScale(x, 31)
		putScale(blk, d)
		putScale(blk[2:], m)
		var qh uint32
		for i := range 16 {
			lo, hi := clampRound((x[i]-m)*id, 0, 31), clampRound((x[i+16]-m)*id, 0, 31)
			blk[8+i] = lo&15 | (hi&15)<<4
			qh |= uint32(lo>>4)<<i | uint32(hi>>4)<<(i+16)
		}
		putU32(blk[4:], qh)
		src, dst = src[QK5_1:], dst[BlockBytesQ5_1:]
	}
}

// minMaxScale returns d = (max−min)/levels, min and 1/d (0 when d is 0).
func minMaxScale(x []float32, levels float32) (d, m, id float32) {
	lo, hi := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if !(lo <= hi) || math.IsInf(float64(hi-lo), 0) { // NaN or infinite input
		return 0, 0, 0
	}
	d = (hi - lo) / levels
	if d != 0 {
		id = 1 / d
	}
	return d, lo, id
}

// trunc5 returns min(31, trunc(v + 16.5)), clamped below at 0.
func trunc5(v float32) byte {
	t := float32(v) + 16.5
	if !(t >= 0) {
		return 0
	}
	if t >= 31 {
		return 31
	}
	return byte(t)
}

// clampRound rounds v to the nearest integer (half away from zero) and
// clamps it to [lo, hi]; NaN gives lo.
func clampRound(v float32, lo, hi int) byte {
	r := math.Round(float64(v))
	if !(r >= float64(lo)) {
		return byte(lo)
	}
	if r > float64(hi) {
		return byte(hi)
	}
	return byte(int(r))
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// fitScaleMin finds s ≥ 0 and m ≥ 0 with x ≈ s×q − m for integers q in
// [0, nmax], as described at the top of this file. The squared error of each
// candidate's least-squares fit is computed from the sums, in one pass.
func fitScaleMin(x []float32, nmax int) (s, m float32) {
	lo, hi := float32(0), float32(-math.MaxFloat32)
	var sx, sxx float64
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
		sx += float64(v)
		sxx += float64(v) * float64(v)
	}
	if !(hi > lo) || math.IsInf(float64(hi-lo), 0) {
		return 0, max(0, -lo) // constant sub-block (or non-finite input)
	}
	bestErr := math.Inf(1)
	s, m = (hi-lo)/float32(nmax), -lo
	n, top := float64(len(x)), int32(nmax)
	for k := -5; k <= 5; k++ {
		is := (float32(nmax) + 0.2*float32(k)) / (hi - lo)
		var sq, sqq, sqx float64
		for _, v := range x {
			q := min(int32((v-lo)*is+0.5), top) // (v−lo)×is ≥ 0: truncation rounds
			f := float64(q)
			sq += f
			sqq += f * f
			sqx += f * float64(v)
		}
		det := n*sqq - sq*sq
		if det <= 0 {
			continue
		}
		cs := (n*sqx - sq*sx) / det
		cb := (sx - cs*sq) / n
		if cb > 0 { // the offset must be ≤ 0: refit the scale alone
			cb, cs = 0, sqx/sqq
		}
		if cs <= 0 {
			continue
		}
		// Σ(cs·q + cb − x)²
		e := sxx - 2*cs*sqx - 2*cb*sx + cs*cs*sqq + 2*cs*cb*sq + n*cb*cb
		if e < bestErr {
			bestErr, s, m = e, float32(cs), float32(-cb)
		}
	}
	return s, m
}

// fitScaleSigned finds s with x ≈ s×q for integers q in [−32, 31]: the
// least-squares s for a candidate's integers leaves the squared error
// Σx² − (Σqx)²/Σq², so the candidate with the largest (Σqx)²/Σq² wins.
func fitScaleSigned(x []float32) float32 {
	var amax, mx float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if !(amax > 0) || math.IsInf(float64(amax), 0) {
		return 0
	}
	best, bestScore := mx/-32, -1.0
	for k := -10; k <= 11; k++ { // mx ↦ about −32 (k ≤ 0) or about +31 (k > 0)
		is := -(32 + 0.2*float32(k+5)) / mx
		if k > 0 {
			is = (31 + 0.2*float32(k-6)) / mx
		}
		var sqq, sqx float64
		for _, v := range x {
			q := min(max(int32(v*is+64.5)-64, -32), 31) // v×is > −34: truncation rounds
			f := float64(q)
			sqq += f * f
			sqx += f * float64(v)
		}
		if sqq == 0 {
			continue
		}
		if score := sqx * sqx / sqq; score > bestScore {
			bestScore, best = score, float32(sqx/sqq)
		}
	}
	return best
}

// quantizeScales6 quantizes non-negative values to 6 bits against
// d = max/63 rounded to f16, returning the f16 d and the integers.
func quantizeScales6(v *[8]float32) (d uint16, q [8]uint8) {
	var mx float32
	for _, s := range v {
		mx = max(mx, s)
	}
	d = F32ToF16(mx / 63)
	df := F16ToF32(d)
	if df == 0 {
		return d, q
	}
	for j, s := range v {
		q[j] = clampRound(s/df, 0, 63)
	}
	return d, q
}

// quantizeK45 encodes one Q4_K or Q5_K super-block (nmax 15 or 31): blk
// begins with d, dmin and the 12 scale bytes; each element's integer goes to
// out.
func quantizeK45(blk []byte, x []float32, nmax int, out *[QK_K]uint8) {
	var sc, mn [8]float32
	for j := range 8 {
		sc[j], mn[j] = fitScaleMin(x[32*j:32*j+32], nmax)
	}
	dh, qs := quantizeScales6(&sc)
	mh, qm := quantizeScales6(&mn)
	blk[0], blk[1], blk[2], blk[3] = byte(dh), byte(dh>>8), byte(mh), byte(mh>>8)
	s := blk[4:16]
	for j := range 4 {
		s[j] = qs[j] | qs[j+4]>>4<<6
		s[j+4] = qm[j] | qm[j+4]>>4<<6
		s[j+8] = qs[j+4]&15 | (qm[j+4]&15)<<4
	}
	d, dmin := F16ToF32(dh), F16ToF32(mh)
	for j := range 8 {
		ds, dm := d*float32(qs[j]), dmin*float32(qm[j])
		for l := range 32 {
			var q uint8
			if ds != 0 {
				q = clampRound((x[32*j+l]+dm)/ds, 0, nmax)
			}
			out[32*j+l] = q
		}
	}
}

// QuantizeQ4_K encodes src as Q4_K super-blocks into dst; it panics unless
// len(src) is a multiple of QK_K and len(dst) is exactly its super-blocks.
func QuantizeQ4_K(dst []byte, src []float32) {
	checkBlocks("QuantizeQ4_K", len(src), QK_K, BlockBytesQ4_K, len(dst))
	var q [QK_K]uint8
	for len(src) > 0 {
		x, blk := src[:QK_K], dst[:BlockBytesQ4_K]
		quantizeK45(blk, x, 15, &q)
		qs := blk[16:]
		for k := range 4 {
			for l := range 32 {
				qs[32*k+l] = q[64*k+l] | q[64*k+32+l]<<4
			}
		}
		src, dst = src[QK_K:], dst[BlockBytesQ4_K:]
	}
}

// QuantizeQ5_K encodes src as Q5_K super-blocks into dst; it panics unless
// len(src) is a multiple of QK_K and len(dst) is exactly its super-blocks.
func QuantizeQ5_K(dst []byte, src []float32) {
	checkBlocks("QuantizeQ5_K", len(src), QK_K, BlockBytesQ5_K, len(dst))
	var q [QK_K]uint8
	for len(src) > 0 {
		x, blk := src[:QK_K], dst[:BlockBytesQ5_K]
		quantizeK45(blk, x, 31, &q)
		qh, qs := blk[16:48], blk[48:]
		clear(qh)
		for k := range 4 {
			for l := range 32 {
				a, b := q[64*k+l], q[64*k+32+l]
				qs[32*k+l] = a&15 | (b&15)<<4
				qh[l] |= (a>>4)<<(2*k) | (b>>4)<<(2*k+1)
			}
		}
		src, dst = src[QK_K:], dst[BlockBytesQ5_K:]
	}
}

// QuantizeQ6_K encodes src as Q6_K super-blocks into dst; it panics unless
// len(src) is a multiple of QK_K and len(dst) is exactly its super-blocks.
func QuantizeQ6_K(dst []byte, src []float32) {
	checkBlocks("QuantizeQ6_K", len(src), QK_K, BlockBytesQ6_K, len(dst))
	for len(src) > 0 {
		x, blk := src[:QK_K], dst[:BlockBytesQ6_K]
		var sc [16]float32
		var amax, mx float32
		for j := range 16 {
			sc[j] = fitScaleSigned(x[16*j : 16*j+16])
			if a := abs32(sc[j]); a > amax {
				amax, mx = a, sc[j]
			}
		}
		ql, qh, qsc := blk[:128], blk[128:192], blk[192:208]
		clear(blk)
		var d float32
		if amax > 0 {
			is := -128 / mx
			for j := range 16 {
				qsc[j] = byte(int8(int(clampRound(is*sc[j]+128, 0, 255)) - 128))
			}
			d = 1 / is
		}
		dh := F32ToF16(d)
		blk[208], blk[209] = byte(dh), byte(dh>>8)
		d = F16ToF32(dh)
		for e := range QK_K {
			q := uint8(32)
			if ds := d * float32(int8(qsc[e/16])); ds != 0 {
				q = clampRound(x[e]/ds+32, 0, 63)
			}
			h, g, l := e/128, e%128/32, e%32
			ql[64*h+32*(g%2)+l] |= (q & 15) << (4 * (g / 2))
			qh[32*h+l] |= (q >> 4) << (2 * g)
		}
		src, dst = src[QK_K:], dst[BlockBytesQ6_K:]
	}
}
