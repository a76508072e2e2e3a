package kernels

// Integer products of Q4_K and Q6_K weights with Q8 activations.
//
// A K-quant super-block of 256 weights meets eight activation blocks of 32
// (q8act.go). Within activation block b the weights are, for Q4_K, sub-block
// b%8 of its super-block: d×sc×q − dmin×m with q in 0..15 and 6-bit sc, m;
// for Q6_K, two sub-blocks of 16: d×sc×(q−32) with q in 0..63 and int8 sc,
// sc_lo for elements 0..15 and sc_hi for 16..31. With the activations
// da×a, the order of operations is that of the top of q8act.go with the
// sub-block scales applied to the exact integer sums:
//
//	acc = 0
//	for each super-block, in order:
//	    for b in its 8 activation blocks, in order (global block B = 8×super-block + b):
//	        Q4_K: p = Σ_{i<32} q[32b+i]×a[32b+i]              // exact
//	              acc += ((d×float32(sc_b)) × da[B]) × float32(p)
//	              acc −= (dmin×float32(m_b)) × sa[B]           // sa[B] = da[B]×Σa over block B (Acts)
//	        Q6_K: P = sc_lo×Σ_{i<16}(q−32)×a + sc_hi×Σ_{16≤i<32}(q−32)×a   // exact
//	              acc += (d × da[B]) × float32(P)
//	out = acc
//
// d×sc and dmin×m (an f16 times 6 bits) are exact in float32, and so is the
// conversion of p and P (|P| ≤ 2×128×16×32×127 < 2^24); every other
// product and sum is rounded once, with no fused multiply-adds.

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
	var acc float32
	nsb := len(d) / 8
	w, q, sa = w[:nsb*BlockBytesQ4_K], q[:nsb*QK_K], sa[:len(d)]
	for sb := range nsb {
		blk := w[sb*BlockBytesQ4_K : (sb+1)*BlockBytesQ4_K]
		dd, dmin := scale(blk), scale(blk[2:])
		for j := range 8 {
			sc, m := scaleMinK4(j, blk[4:16])
			nib := (*[32]byte)(blk[16+32*(j/2):])
			qs := (*[QK8]int8)(q[(8*sb+j)*QK8:])
			shift := 4 * (j % 2)
			var p int32
			for i, v := range nib {
				p += int32(v>>shift&15) * int32(qs[i])
			}
			ds, dm := dd*float32(sc), dmin*float32(m) // exact
			acc += float32(float32(ds*d[8*sb+j]) * float32(p))
			acc -= float32(dm * sa[8*sb+j])
		}
	}
	return acc
}

// dotQ6_KQ8Generic returns the Q6_K row w times the Q8 activation row with
// quants q and block scales d, in the order above.
func dotQ6_KQ8Generic(w []byte, q []int8, d []float32) float32 {
	var acc float32
	nsb := len(d) / 8
	w, q = w[:nsb*BlockBytesQ6_K], q[:nsb*QK_K]
	for sb := range nsb {
		blk := w[sb*BlockBytesQ6_K : (sb+1)*BlockBytesQ6_K]
		dd := scale(blk[208:])
		for b := range 8 {
			h, g := b/4, b%4
			ql := (*[32]byte)(blk[64*h+32*(g%2):])
			qh := (*[32]byte)(blk[128+32*h:])
			qs := (*[QK8]int8)(q[(8*sb+b)*QK8:])
			var lo, hi int32
			for k := range 32 {
				v := int32(ql[k]>>(4*(g/2))&15) | int32(qh[k]>>(2*g)&3)<<4
				if k < 16 {
					lo += (v - 32) * int32(qs[k])
				} else {
					hi += (v - 32) * int32(qs[k])
				}
			}
			p := int32(int8(blk[192+2*b]))*lo + int32(int8(blk[193+2*b]))*hi
			acc += float32(float32(dd*d[8*sb+b]) * float32(p))
		}
	}
	return acc
}
