package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randKWeights returns rows×cols Q4_K or Q6_K weights of random bytes with
// random finite f16 scales (and minimums); the first super-block of row 0
// is extreme: Q4_K all nibbles 15 with scales and minimums 63, Q6_K all
// values 0 (−32) with scales −128; the second, where there is one, Q6_K all
// values 63 (+31) with scales 127, Q4_K all nibbles 0 with scales 63.
func randKWeights(r *rand.Rand, typ DType, rows, cols int) *Matrix {
	bb := map[DType]int{Q4_K: BlockBytesQ4_K, Q6_K: BlockBytesQ6_K}[typ]
	data := make([]byte, rows*cols/QK_K*bb)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for b := 0; b < len(data); b += bb {
		if typ == Q4_K {
			putScale(data[b:], float32(r.NormFloat64()*0.001))
			putScale(data[b+2:], float32(r.NormFloat64()*0.001))
		} else {
			putScale(data[b+208:], float32(r.NormFloat64()*0.0001))
		}
	}
	for sb := 0; sb < 2 && sb < cols/QK_K; sb++ {
		blk := data[sb*bb : (sb+1)*bb]
		switch {
		case typ == Q4_K:
			for i := 4; i < 16; i++ {
				blk[i] = 0xff
			}
			for i := 16; i < bb; i++ {
				blk[i] = byte(0xff * (1 - sb))
			}
		case sb == 0:
			for i := range 192 {
				blk[i] = 0
			}
			for i := 192; i < 208; i++ {
				blk[i] = 0x80
			}
		default:
			for i := range 192 {
				blk[i] = 0xff
			}
			for i := 192; i < 208; i++ {
				blk[i] = 0x7f
			}
		}
	}
	m, err := NewMatrix(typ, rows, cols, data)
	if err != nil {
		panic(err)
	}
	return m
}

// q8Ref returns the plain-Go integer product of row j of m with quantized
// activation row i of a.
func q8Ref(m *Matrix, a *Acts, j, i int) float32 {
	q := a.q[i*m.Cols : (i+1)*m.Cols]
	switch m.Type {
	case Q8_0:
		return dotQ8_0Q8Generic(m.row(j), q, a.scales(i))
	case Q4_0:
		return dotQ4_0Q8Generic(m.row(j), q, a.scales(i))
	case Q4_K:
		return dotQ4_KQ8Generic(m.row(j), q, a.scales(i), a.sums(i))
	case Q6_K:
		return dotQ6_KQ8Generic(m.row(j), q, a.scales(i))
	}
	panic("q8Ref: " + m.Type.String())
}

// weightMagnitudes returns |w| for each weight of row j of m, and for Q4_K
// |d×sc×q| + |dmin×m|, the sum of the magnitudes of its two terms.
func weightMagnitudes(m *Matrix, j int) []float64 {
	w := make([]float32, m.Cols)
	m.Row(w, j)
	out := make([]float64, m.Cols)
	if m.Type != Q4_K {
		for k, v := range w {
			out[k] = math.Abs(float64(v))
		}
		return out
	}
	row := m.row(j)
	for sb := 0; sb < m.Cols/QK_K; sb++ {
		blk := row[sb*BlockBytesQ4_K:]
		d, dmin := float64(scale(blk)), float64(scale(blk[2:]))
		for k := range QK_K {
			sub := k / 32
			sc, mn := scaleMinK4(sub, blk[4:16])
			q := blk[16+32*(sub/2)+k%32] >> (4 * (sub % 2)) & 15
			out[sb*QK_K+k] = math.Abs(d*float64(sc)*float64(q)) + math.Abs(dmin*float64(mn))
		}
	}
	return out
}

// TestQ8KQuantsOff checks that with the integer K-quant products switched
// off, Q4_K and Q6_K matrices take the float products from quantized
// activations, and that Q8_0 still takes the integer ones.
func TestQ8KQuantsOff(t *testing.T) {
	defer SetIntegerKQuants(SetIntegerKQuants(false))
	r := rand.New(rand.NewPCG(11, 12))
	const rows, cols, n = 3, 512, 2
	a := randActs(r, n, cols)
	for _, typ := range []DType{Q4_K, Q6_K} {
		m := randKWeights(r, typ, rows, cols)
		if m.TakesQ8() {
			t.Fatalf("%v takes Q8 when switched off", typ)
		}
		want, got := make([]float32, n*rows), make([]float32, n*rows)
		m.MulBatch(nil, want, a.X, n)
		m.MulActs(nil, got, &a)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%v: out[%d] = %g, want the float product %g", typ, i, got[i], want[i])
			}
		}
		SetIntegerKQuants(true)
		if !m.TakesQ8() {
			t.Fatalf("%v does not take Q8 when switched on", typ)
		}
		SetIntegerKQuants(false)
	}
	if m := randWeights(r, Q8_0, rows, cols); !m.TakesQ8() {
		t.Fatal("Q8_0 does not take Q8")
	}
}

// TestQ8KQuantsModelError measures the error the Q8 activations add to a
// Q4_K and a Q6_K product of Gaussian activations against the float product
// of the same weights: relative RMS over the outputs, which must stay
// within that of the activations' own quantization (about 0.6% for Gaussian
// rows, whose block maximum is about 2.4σ; here at most 1%).
func TestQ8KQuantsModelError(t *testing.T) {
	defer SetIntegerKQuants(SetIntegerKQuants(true))
	r := rand.New(rand.NewPCG(13, 14))
	const rows, cols, n = 64, 1024, 4
	x := make([]float32, n*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	a := QuantizeActs(make([]float32, ActsWords(n, cols)), x, n, cols)
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.05)
	}
	for _, typ := range []DType{Q4_K, Q6_K} {
		data := make([]byte, rows*typ.RowBytes(cols))
		if typ == Q4_K {
			QuantizeQ4_K(data, w)
		} else {
			QuantizeQ6_K(data, w)
		}
		m, err := NewMatrix(typ, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		want, got := make([]float32, n*rows), make([]float32, n*rows)
		m.MulBatch(nil, want, x, n)
		m.MulActs(nil, got, &a)
		var num, den float64
		for i := range got {
			num += float64(got[i]-want[i]) * float64(got[i]-want[i])
			den += float64(want[i]) * float64(want[i])
		}
		e := math.Sqrt(num / den)
		t.Logf("%v: relative RMS error of the integer product against the float one %.3g", typ, e)
		if e > 0.01 {
			t.Errorf("%v: relative RMS error %.3g > 1%%", typ, e)
		}
	}
}
