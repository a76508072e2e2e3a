package kernels

import "encoding/binary"

// The other common ggml block formats: Q4_1, Q5_0 and Q5_1 (blocks of 32
// elements) and the K-quants Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (super-blocks
// of QK_K = 256 elements split into sub-blocks whose scales, and for some
// minimums, are themselves quantized). All f16 fields are little-endian, and
// every format's layout is described at its constant below. Each format has a
// Dequantize function (a row of blocks to float32) and a Dot function (a row
// of blocks dotted with a float32 vector without materialising the row).
//
// Element numbering: the nibble and bit positions below are the ones ggml
// uses, so that files written by llama.cpp decode here unchanged.

// Elements per block.
const (
	QK4_1 = 32  // elements per Q4_1 block
	QK5_0 = 32  // elements per Q5_0 block
	QK5_1 = 32  // elements per Q5_1 block
	QK_K  = 256 // elements per K-quant super-block
)

// Bytes per block.
//
// Q4_1 (20 bytes): f16 d, f16 m, 16 bytes of nibbles laid out as in Q4_0
// (low nibble of byte i is element i, high nibble element i+16); element
// with nibble n is n×d + m.
//
// Q5_0 (22 bytes): f16 d, 4 bytes qh (a little-endian uint32), 16 bytes of
// nibbles as in Q4_0. Bit i of qh is the fifth (value 16) bit of element i;
// element with 5-bit value n is (n-16)×d.
//
// Q5_1 (24 bytes): f16 d, f16 m, 4 bytes qh, 16 bytes of nibbles, as Q5_0;
// element with 5-bit value n is n×d + m.
//
// Q2_K (84 bytes): 16 bytes of scales (one per 16 elements: the low nibble
// is the scale, the high nibble the minimum), 64 bytes of 2-bit values, f16
// d, f16 dmin. Each 128-element half uses 32 bytes of values: element
// 32s+l of the half (s in 0..3, l in 0..31) is bits 2s..2s+1 of the half's
// byte l. Element with value q in sub-block j is d×sc_j×q − dmin×m_j.
//
// Q3_K (110 bytes): 32 bytes hmask, 64 bytes of 2-bit low values (laid out
// as in Q2_K), 12 bytes of 6-bit scales, f16 d. Element e = 128h+32s+l has
// its high bit at bit 4h+s of hmask[l]; its 3-bit value is low + 4×high − 4
// (that is, a clear high bit subtracts 4). The 16 scales (one per 16
// elements) are 6-bit, stored offset by 32: scale j's low four bits are the
// low nibble of byte j for j < 8 and the high nibble of byte j−8 for j ≥ 8;
// its top two bits are bits 2(j/4)..2(j/4)+1 of byte 8 + j%4. Element value
// is d×(scale_j−32)×q.
//
// Q4_K (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and
// minimums for the eight 32-element sub-blocks, 128 bytes of nibbles. For
// sub-block j < 4 the scale is byte j & 63 and the minimum byte j+4 & 63; for
// j ≥ 4 the scale is (byte j+4 & 15) | (byte j−4 >> 6) << 4 and the minimum
// (byte j+4 >> 4) | (byte j >> 6) << 4. Sub-blocks 2k and 2k+1 share bytes
// 32k..32k+31 of the nibbles: low nibbles for 2k, high for 2k+1. Element
// with nibble q in sub-block j is d×sc_j×q − dmin×m_j.
//
// Q5_K (176 bytes): f16 d, f16 dmin, 12 bytes of scales as in Q4_K, 32 bytes
// qh, 128 bytes of nibbles as in Q4_K. Element l of sub-block j has its
// fifth (value 16) bit at bit j of qh[l].
//
// Q6_K (210 bytes): 128 bytes ql (low four bits), 64 bytes qh (top two
// bits), 16 int8 scales (one per 16 elements), f16 d. In each 128-element
// half (ql advanced by 64, qh by 32), for l in 0..31: element l is the low
// nibble of ql[l], element l+32 the low nibble of ql[l+32], element l+64 the
// high nibble of ql[l], element l+96 the high nibble of ql[l+32], with top
// bits from qh[l] bits 0-1, 2-3, 4-5, 6-7 respectively. Element with 6-bit
// value q is d×scale×(q−32).
const (
	BlockBytesQ4_1 = 20
	BlockBytesQ5_0 = 22
	BlockBytesQ5_1 = 24
	BlockBytesQ2_K = 84
	BlockBytesQ3_K = 110
	BlockBytesQ4_K = 144
	BlockBytesQ5_K = 176
	BlockBytesQ6_K = 210
)

// scaleMinK4 unpacks the 6-bit scale and minimum of sub-block j (0..7) from
// the 12 packed bytes of a Q4_K or Q5_K super-block.
func scaleMinK4(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&15 | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

// scalesQ3K unpacks the 16 signed scales (already less 32) of a Q3_K
// super-block from its 12 packed bytes.
func scalesQ3K(s []byte) (out [16]int8) {
	for j := range 16 {
		lo := s[j%8] >> (4 * (j / 8)) & 15
		hi := s[8+j%4] >> (2 * (j / 4)) & 3
		out[j] = int8(lo|hi<<4) - 32
	}
	return out
}

// DequantizeQ4_1 decodes the Q4_1 blocks in src into dst; it panics unless
// len(dst) is a multiple of QK4_1 and src holds exactly len(dst)/QK4_1 blocks.
func DequantizeQ4_1(dst []float32, src []byte) {
	checkBlocks("DequantizeQ4_1", len(dst), QK4_1, BlockBytesQ4_1, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ4_1], dst[:QK4_1]
		d, m := scale(blk), scale(blk[2:])
		for i, b := range blk[4:BlockBytesQ4_1] {
			out[i] = float32(b&15)*d + m
			out[i+16] = float32(b>>4)*d + m
		}
		src, dst = src[BlockBytesQ4_1:], dst[QK4_1:]
	}
}

// DequantizeQ5_0 decodes the Q5_0 blocks in src into dst; it panics unless
// len(dst) is a multiple of QK5_0 and src holds exactly len(dst)/QK5_0 blocks.
func DequantizeQ5_0(dst []float32, src []byte) {
	checkBlocks("DequantizeQ5_0", len(dst), QK5_0, BlockBytesQ5_0, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ5_0], dst[:QK5_0]
		d, qh := scale(blk), binary.LittleEndian.Uint32(blk[2:])
		for i, b := range blk[6:BlockBytesQ5_0] {
			lo := int(b&15) | int(qh>>i&1)<<4
			hi := int(b>>4) | int(qh>>(i+16)&1)<<4
			out[i] = float32(lo-16) * d
			out[i+16] = float32(hi-16) * d
		}
		src, dst = src[BlockBytesQ5_0:], dst[QK5_0:]
	}
}

// DequantizeQ5_1 decodes the Q5_1 blocks in src into dst; it panics unless
// len(dst) is a multiple of QK5_1 and src holds exactly len(dst)/QK5_1 blocks.
func DequantizeQ5_1(dst []float32, src []byte) {
	checkBlocks("DequantizeQ5_1", len(dst), QK5_1, BlockBytesQ5_1, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ5_1], dst[:QK5_1]
		d, m, qh := scale(blk), scale(blk[2:]), binary.LittleEndian.Uint32(blk[4:])
		for i, b := range blk[8:BlockBytesQ5_1] {
			lo := b&15 | byte(qh>>i&1)<<4
			hi := b>>4 | byte(qh>>(i+16)&1)<<4
			out[i] = float32(lo)*d + m
			out[i+16] = float32(hi)*d + m
		}
		src, dst = src[BlockBytesQ5_1:], dst[QK5_1:]
	}
}

// DequantizeQ2_K decodes the Q2_K super-blocks in src into dst; it panics
// unless len(dst) is a multiple of QK_K and src holds exactly len(dst)/QK_K
// super-blocks.
func DequantizeQ2_K(dst []float32, src []byte) {
	checkBlocks("DequantizeQ2_K", len(dst), QK_K, BlockBytesQ2_K, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ2_K], dst[:QK_K]
		sc, qs := blk[:16], blk[16:80]
		d, dmin := scale(blk[80:]), scale(blk[82:])
		for e := range QK_K {
			h, s, l := e/128, e%128/32, e%32
			j := e / 16
			q := qs[32*h+l] >> (2 * s) & 3
			out[e] = d*float32(sc[j]&15)*float32(q) - dmin*float32(sc[j]>>4)
		}
		src, dst = src[BlockBytesQ2_K:], dst[QK_K:]
	}
}

// DequantizeQ3_K decodes the Q3_K super-blocks in src into dst; it panics
// unless len(dst) is a multiple of QK_K and src holds exactly len(dst)/QK_K
// super-blocks.
func DequantizeQ3_K(dst []float32, src []byte) {
	checkBlocks("DequantizeQ3_K", len(dst), QK_K, BlockBytesQ3_K, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ3_K], dst[:QK_K]
		hm, qs, scales := blk[:32], blk[32:96], scalesQ3K(blk[96:108])
		d := scale(blk[108:])
		for e := range QK_K {
			h, s, l := e/128, e%128/32, e%32
			q := int(qs[32*h+l]>>(2*s)&3) - 4 + 4*int(hm[l]>>(4*h+s)&1)
			out[e] = d * float32(scales[e/16]) * float32(q)
		}
		src, dst = src[BlockBytesQ3_K:], dst[QK_K:]
	}
}

// DequantizeQ4_K decodes the Q4_K super-blocks in src into dst; it panics
// unless len(dst) is a multiple of QK_K and src holds exactly len(dst)/QK_K
// super-blocks.
func DequantizeQ4_K(dst []float32, src []byte) {
	checkBlocks("DequantizeQ4_K", len(dst), QK_K, BlockBytesQ4_K, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ4_K], dst[:QK_K]
		d, dmin := scale(blk), scale(blk[2:])
		scales, qs := blk[4:16], blk[16:BlockBytesQ4_K]
		for j := range 8 {
			sc, m := scaleMinK4(j, scales)
			ds, dm := d*float32(sc), dmin*float32(m)
			q, o := qs[32*(j/2):32*(j/2)+32], out[32*j:32*j+32]
			shift := 4 * uint(j%2)
			for l := range o {
				o[l] = ds*float32(q[l]>>shift&15) - dm
			}
		}
		src, dst = src[BlockBytesQ4_K:], dst[QK_K:]
	}
}

// DequantizeQ5_K decodes the Q5_K super-blocks in src into dst; it panics
// unless len(dst) is a multiple of QK_K and src holds exactly len(dst)/QK_K
// super-blocks.
func DequantizeQ5_K(dst []float32, src []byte) {
	checkBlocks("DequantizeQ5_K", len(dst), QK_K, BlockBytesQ5_K, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ5_K], dst[:QK_K]
		d, dmin := scale(blk), scale(blk[2:])
		scales, qh, qs := blk[4:16], blk[16:48], blk[48:BlockBytesQ5_K]
		for j := range 8 {
			sc, m := scaleMinK4(j, scales)
			ds, dm := d*float32(sc), dmin*float32(m)
			q, o := qs[32*(j/2):32*(j/2)+32], out[32*j:32*j+32]
			shift := 4 * uint(j%2)
			for l := range o {
				v := q[l]>>shift&15 | (qh[l]>>j&1)<<4
				o[l] = ds*float32(v) - dm
			}
		}
		src, dst = src[BlockBytesQ5_K:], dst[QK_K:]
	}
}

// DequantizeQ6_K decodes the Q6_K super-blocks in src into dst; it panics
// unless len(dst) is a multiple of QK_K and src holds exactly len(dst)/QK_K
// super-blocks.
func DequantizeQ6_K(dst []float32, src []byte) {
	checkBlocks("DequantizeQ6_K", len(dst), QK_K, BlockBytesQ6_K, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ6_K], dst[:QK_K]
		ql, qh, sc := blk[:128], blk[128:192], blk[192:208]
		d := scale(blk[208:])
		for e := range QK_K {
			h, g, l := e/128, e%128/32, e%32
			lo := ql[64*h+32*(g%2)+l] >> (4 * (g / 2)) & 15
			hi := qh[32*h+l] >> (2 * g) & 3
			out[e] = d * float32(int8(sc[e/16])) * float32(int(lo|hi<<4)-32)
		}
		src, dst = src[BlockBytesQ6_K:], dst[QK_K:]
	}
}

// extFormats describes the DTypes of this file: name, elements and bytes
// per block, dequantizer and dot product.
var extFormats = [Q6_K + 1]struct {
	name       string
	qk, bytes  int
	dequantize func([]float32, []byte)
	dot        func([]byte, []float32) float32
}{
	Q4_1: {"q4_1", QK4_1, BlockBytesQ4_1, DequantizeQ4_1, DotQ4_1},
	Q5_0: {"q5_0", QK5_0, BlockBytesQ5_0, DequantizeQ5_0, DotQ5_0},
	Q5_1: {"q5_1", QK5_1, BlockBytesQ5_1, DequantizeQ5_1, DotQ5_1},
	Q2_K: {"q2_k", QK_K, BlockBytesQ2_K, DequantizeQ2_K, DotQ2_K},
	Q3_K: {"q3_k", QK_K, BlockBytesQ3_K, DequantizeQ3_K, DotQ3_K},
	Q4_K: {"q4_k", QK_K, BlockBytesQ4_K, DequantizeQ4_K, DotQ4_K},
	Q5_K: {"q5_k", QK_K, BlockBytesQ5_K, DequantizeQ5_K, DotQ5_K},
	Q6_K: {"q6_k", QK_K, BlockBytesQ6_K, DequantizeQ6_K, DotQ6_K},
}

func extName(t DType) string { return extFormats[t].name }

// extBlock returns the elements per block of a type of this file, or 0 for
// any other type.
func extBlock(t DType) int {
	if t < 0 || int(t) >= len(extFormats) {
		return 0
	}
	return extFormats[t].qk
}

func extRowBytes(t DType, cols int) int {
	f := extFormats[t]
	return cols / f.qk * f.bytes
}

func extDot(t DType, w []byte, x []float32) float32 {
	switch t { // direct calls for the Q4_K_M workhorses
	case Q4_K:
		return DotQ4_K(w, x)
	case Q6_K:
		return DotQ6_K(w, x)
	}
	return extFormats[t].dot(w, x)
}

func extDequantize(t DType, dst []float32, w []byte) { extFormats[t].dequantize(dst, w) }
