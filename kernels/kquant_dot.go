package kernels

import "encoding/binary"

// Dot products of rows stored in the formats of kquant.go with float32
// vectors. Each function panics unless len(x) is a whole number of blocks
// and w holds exactly those blocks. Within a (sub-)block the integer values
// are multiplied by x and summed first, and the block's scale (and minimum
// times the sum of x) applied once, so the result differs from
// dequantize-then-dot only by float32 rounding.

// DotQ4_1 returns the Q4_1 row w dotted with x.
func DotQ4_1(w []byte, x []float32) float32 {
	checkBlocks("DotQ4_1", len(x), QK4_1, BlockBytesQ4_1, len(w))
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ4_1], x[:QK4_1]
		var qx, sx float32
		for i, b := range blk[4:BlockBytesQ4_1] {
			lo, hi := xs[i], xs[i+16]
			qx += float32(b&15)*lo + float32(b>>4)*hi
			sx += lo + hi
		}
		sum += scale(blk)*qx + scale(blk[2:])*sx
		w, x = w[BlockBytesQ4_1:], x[QK4_1:]
	}
	return sum
}

// DotQ5_0 returns the Q5_0 row w dotted with x.
func DotQ5_0(w []byte, x []float32) float32 {
	checkBlocks("DotQ5_0", len(x), QK5_0, BlockBytesQ5_0, len(w))
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ5_0], x[:QK5_0]
		qh := binary.LittleEndian.Uint32(blk[2:])
		var qx float32
		for i, b := range blk[6:BlockBytesQ5_0] {
			lo := int(b&15) | int(qh>>i&1)<<4
			hi := int(b>>4) | int(qh>>(i+16)&1)<<4
			qx += float32(lo-16)*xs[i] + float32(hi-16)*xs[i+16]
		}
		sum += scale(blk) * qx
		w, x = w[BlockBytesQ5_0:], x[QK5_0:]
	}
	return sum
}

// DotQ5_1 returns the Q5_1 row w dotted with x.
func DotQ5_1(w []byte, x []float32) float32 {
	checkBlocks("DotQ5_1", len(x), QK5_1, BlockBytesQ5_1, len(w))
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ5_1], x[:QK5_1]
		qh := binary.LittleEndian.Uint32(blk[4:])
		var qx, sx float32
		for i, b := range blk[8:BlockBytesQ5_1] {
			lo := b&15 | byte(qh>>i&1)<<4
			hi := b>>4 | byte(qh>>(i+16)&1)<<4
			qx += float32(lo)*xs[i] + float32(hi)*xs[i+16]
			sx += xs[i] + xs[i+16]
		}
		sum += scale(blk)*qx + scale(blk[2:])*sx
		w, x = w[BlockBytesQ5_1:], x[QK5_1:]
	}
	return sum
}

// DotQ2_K returns the Q2_K row w dotted with x.
func DotQ2_K(w []byte, x []float32) float32 {
	checkBlocks("DotQ2_K", len(x), QK_K, BlockBytesQ2_K, len(w))
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ2_K], x[:QK_K]
		sc, qs := blk[:16], blk[16:80]
		var qx, mx float32
		for j := range 16 { // 16-element groups: half j/8, shift (j%8)/2, bytes 16(j%2)..
			h, s, o := j/8, uint(j%8/2), 16*(j%2)
			q, xg := qs[32*h+o:32*h+o+16], xs[16*j:16*j+16]
			var a, b float32
			for l, v := range xg {
				a += float32(q[l]>>(2*s)&3) * v
				b += v
			}
			qx += float32(sc[j]&15) * a
			mx += float32(sc[j]>>4) * b
		}
		sum += scale(blk[80:])*qx - scale(blk[82:])*mx
		w, x = w[BlockBytesQ2_K:], x[QK_K:]
	}
	return sum
}

// DotQ3_K returns the Q3_K row w dotted with x.
func DotQ3_K(w []byte, x []float32) float32 {
	checkBlocks("DotQ3_K", len(x), QK_K, BlockBytesQ3_K, len(w))
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ3_K], x[:QK_K]
		hm, qs, scales := blk[:32], blk[32:96], scalesQ3K(blk[96:108])
		var qx float32
		for j := range 16 {
			h, s, o := j/8, uint(j%8/2), 16*(j%2)
			q, m, xg := qs[32*h+o:32*h+o+16], hm[o:o+16], xs[16*j:16*j+16]
			hb := 4*uint(h) + s
			var a float32
			for l, v := range xg {
				a += float32(int(q[l]>>(2*s)&3)-4+4*int(m[l]>>hb&1)) * v
			}
			qx += float32(scales[j]) * a
		}
		sum += scale(blk[108:]) * qx
		w, x = w[BlockBytesQ3_K:], x[QK_K:]
	}
	return sum
}

// DotQ4_K returns the Q4_K row w dotted with x, with the AVX2 kernel where
// the CPU has it.
func DotQ4_K(w []byte, x []float32) float32 {
	checkBlocks("DotQ4_K", len(x), QK_K, BlockBytesQ4_K, len(w))
	if useAVX2 {
		return dotQ4_KAVX2(w, x)
	}
	return dotQ4_KGeneric(w, x)
}

// dotQ4_KGeneric is DotQ4_K in plain Go.
func dotQ4_KGeneric(w []byte, x []float32) float32 {
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ4_K], x[:QK_K]
		scales, qs := blk[4:16], blk[16:BlockBytesQ4_K]
		var qx, mx float32
		for k := range 4 {
			q := qs[32*k : 32*k+32 : 32*k+32]
			xa, xb := xs[64*k:64*k+32:64*k+32], xs[64*k+32:64*k+64:64*k+64]
			var a0, a1, b0, b1, sa, sb float32
			for l := 0; l < 32; l += 2 {
				a0 += float32(q[l]&15) * xa[l]
				a1 += float32(q[l+1]&15) * xa[l+1]
				b0 += float32(q[l]>>4) * xb[l]
				b1 += float32(q[l+1]>>4) * xb[l+1]
				sa += xa[l] + xa[l+1]
				sb += xb[l] + xb[l+1]
			}
			sc0, m0 := scaleMinK4(2*k, scales)
			sc1, m1 := scaleMinK4(2*k+1, scales)
			qx += float32(sc0)*(a0+a1) + float32(sc1)*(b0+b1)
			mx += float32(m0)*sa + float32(m1)*sb
		}
		sum += scale(blk)*qx - scale(blk[2:])*mx
		w, x = w[BlockBytesQ4_K:], x[QK_K:]
	}
	return sum
}

// DotQ5_K returns the Q5_K row w dotted with x.
func DotQ5_K(w []byte, x []float32) float32 {
	checkBlocks("DotQ5_K", len(x), QK_K, BlockBytesQ5_K, len(w))
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ5_K], x[:QK_K]
		scales, qh, qs := blk[4:16], blk[16:48], blk[48:BlockBytesQ5_K]
		var qx, mx float32
		for j := range 8 {
			q, xg := qs[32*(j/2):32*(j/2)+32], xs[32*j:32*j+32]
			shift := 4 * uint(j%2)
			var a, s float32
			for l, v := range xg {
				a += float32(q[l]>>shift&15|(qh[l]>>j&1)<<4) * v
				s += v
			}
			sc, m := scaleMinK4(j, scales)
			qx += float32(sc) * a
			mx += float32(m) * s
		}
		sum += scale(blk)*qx - scale(blk[2:])*mx
		w, x = w[BlockBytesQ5_K:], x[QK_K:]
	}
	return sum
}

// DotQ6_K returns the Q6_K row w dotted with x, with the AVX2 kernel where
// the CPU has it.
func DotQ6_K(w []byte, x []float32) float32 {
	checkBlocks("DotQ6_K", len(x), QK_K, BlockBytesQ6_K, len(w))
	if useAVX2 {
		return dotQ6_KAVX2(w, x)
	}
	return dotQ6_KGeneric(w, x)
}

// dotQ6_KGeneric is DotQ6_K in plain Go.
func dotQ6_KGeneric(w []byte, x []float32) float32 {
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ6_K], x[:QK_K]
		sc := blk[192:208]
		var qx float32
		for h := range 2 {
			ql, qh := blk[64*h:64*h+64:64*h+64], blk[128+32*h:160+32*h:160+32*h]
			xh := xs[128*h : 128*h+128 : 128*h+128]
			for g := range 2 { // l in 16g .. 16g+15: scales 8h+g+{0,2,4,6}
				var a0, a1, a2, a3 float32
				for l := 16 * g; l < 16*g+16; l++ {
					hb := qh[l]
					a0 += float32(int(ql[l]&15|hb&3<<4)-32) * xh[l]
					a1 += float32(int(ql[l+32]&15|hb>>2&3<<4)-32) * xh[l+32]
					a2 += float32(int(ql[l]>>4|hb>>4&3<<4)-32) * xh[l+64]
					a3 += float32(int(ql[l+32]>>4|hb>>6<<4)-32) * xh[l+96]
				}
				s := sc[8*h+g:]
				qx += float32(int8(s[0]))*a0 + float32(int8(s[2]))*a1 +
					float32(int8(s[4]))*a2 + float32(int8(s[6]))*a3
			}
		}
		sum += scale(blk[208:]) * qx
		w, x = w[BlockBytesQ6_K:], x[QK_K:]
	}
	return sum
}
