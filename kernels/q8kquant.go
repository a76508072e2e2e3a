package kernels

// Integer products of Q4_K and Q6_K weights with Q8 activations.
//
// A K-quant super-block of 256 weights meets eight activation blocks of 32
// (q8act.go). Within activation block b the weights are, for Q4_K, sub-block
// b%8 of its super-block: d×sc×q − dmin×m with q in 0..15 and 6-bit sc, m;
// for Q6_K, two sub-blocks of 16: d×sc×(q−32) with q in 0..63 and int8 sc,
// sc_lo for elements 0..15 and sc_hi for 16..31. With the activations
// da×a, the order of operations is that of the top of q8act.go with the
// sub-block scales applied to the integer lane sums, which stay exact:
//
//	for each super-block, in order:
//	    for b in its 8 activation blocks, in order:
//	        s = d × da[b]                          // float32, rounded
//	        for j in 0..7:                         // lanes of 4 elements
//	            p = Σ_{k<4} w[32b+4j+k]×a[32b+4j+k]  // exact; Q6_K: w = q−32, Q4_K: w = q
//	            acc[j] += s × float32(sc_j × p)    // sc_j: the scale of the lane's sub-block
//	    Q4_K only, for j in 0..7 (sub-block j of the super-block, block b = 8B+j):
//	        acc[j] -= (dmin × float32(m_j)) × sa[b]   // sa[b] = da[b]×Σa over block b (Acts)
//	out = q8Sum(acc)
//
// |sc×p| is below 2^24 (Q4_K: 63×4×15×127; Q6_K: 128×4×32×127), so its
// conversion is exact, and so is dmin × m (an f16 times 6 bits). The AVX2
// and AVX-512 tiers (q8gen.go) form p×sc with VPMADDUBSW (unsigned weights
// by signed activations; Q6_K subtracts 32×(pair sums of a)) and VPMADDWD
// by the scales as 16-bit words, which is exact, and follow the same float
// steps in the same order, without fused multiply-adds.

// integerKQuants makes Q4_K and Q6_K matrices take Q8 activations (TakesQ8).
var integerKQuants = true

// SetIntegerKQuants switches the integer products of Q4_K and Q6_K matrices
// with Q8 activations on or off (TakesQ8, so that models quantize their
// activations for them) and returns the previous setting. Off, they take
// the float products (DotQ4_K, DotQ6_K). It is a switch for benchmarks and
// accuracy comparisons, and must not be called while products run or
// between quantizing a model's activations and using them.
func SetIntegerKQuants(on bool) (was bool) {
	was, integerKQuants = integerKQuants, on
	return was
}

// dotQ4_KQ8Generic returns the Q4_K row w times the Q8 activation row with
// quants q, block scales d and block sums sa, in the order above.
func dotQ4_KQ8Generic(w []byte, q []int8, d, sa []float32) float32 {
	var acc [8]float32
	nsb := len(d) / 8
	w, q, sa = w[:nsb*BlockBytesQ4_K], q[:nsb*QK_K], sa[:len(d)]
	for sb := range nsb {
		blk := w[sb*BlockBytesQ4_K : (sb+1)*BlockBytesQ4_K]
		dd, dmin := scale(blk), scale(blk[2:])
		for j := range 8 {
			sc, _ := scaleMinK4(j, blk[4:16])
			nib := (*[32]byte)(blk[16+32*(j/2):])
			qs := (*[QK8]int8)(q[(8*sb+j)*QK8:])
			s := float32(dd * d[8*sb+j])
			c := int32(sc)
			if j%2 == 0 {
				for l := range 8 {
					acc[l] += float32(s * float32(c*dot4lou((*[4]byte)(nib[4*l:]), (*[4]int8)(qs[4*l:]))))
				}
			} else {
				for l := range 8 {
					acc[l] += float32(s * float32(c*dot4hiu((*[4]byte)(nib[4*l:]), (*[4]int8)(qs[4*l:]))))
				}
			}
		}
		for j := range 8 {
			_, m := scaleMinK4(j, blk[4:16])
			acc[j] -= float32(float32(dmin*float32(m)) * sa[8*sb+j])
		}
	}
	return q8Sum(&acc)
}

// dotQ6_KQ8Generic returns the Q6_K row w times the Q8 activation row with
// quants q and block scales d, in the order above.
func dotQ6_KQ8Generic(w []byte, q []int8, d []float32) float32 {
	var acc [8]float32
	nsb := len(d) / 8
	w, q = w[:nsb*BlockBytesQ6_K], q[:nsb*QK_K]
	for sb := range nsb {
		blk := w[sb*BlockBytesQ6_K : (sb+1)*BlockBytesQ6_K]
		dd := scale(blk[208:])
		for b := range 8 {
			h, g := b/4, b%4
			ql := (*[32]byte)(blk[64*h+32*(g%2):])
			qh := (*[32]byte)(blk[128+32*h:])
			lo, hi := int32(int8(blk[192+2*b])), int32(int8(blk[193+2*b]))
			qs := (*[QK8]int8)(q[(8*sb+b)*QK8:])
			s := float32(dd * d[8*sb+b])
			for l := range 8 {
				var p int32
				for k := 4 * l; k < 4*l+4; k++ {
					v := int32(ql[k]>>(4*(g/2))&15) | int32(qh[k]>>(2*g)&3)<<4
					p += (v - 32) * int32(qs[k])
				}
				c := lo
				if l >= 4 {
					c = hi
				}
				acc[l] += float32(s * float32(c*p))
			}
		}
	}
	return q8Sum(&acc)
}

// dot4lou returns the dot product of the low nibbles of w and q.
func dot4lou(w *[4]byte, q *[4]int8) int32 {
	return int32(w[0]&0xf)*int32(q[0]) + int32(w[1]&0xf)*int32(q[1]) +
		int32(w[2]&0xf)*int32(q[2]) + int32(w[3]&0xf)*int32(q[3])
}

// dot4hiu returns the dot product of the high nibbles of w and q.
func dot4hiu(w *[4]byte, q *[4]int8) int32 {
	return int32(w[0]>>4)*int32(q[0]) + int32(w[1]>>4)*int32(q[1]) +
		int32(w[2]>>4)*int32(q[2]) + int32(w[3]>>4)*int32(q[3])
}
