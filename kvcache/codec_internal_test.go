package kvcache

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/thinkv/thinkv/kernels"
)

// TestBlockRowsAreGGUF checks the stored bytes of q8_0 and q4_0 rows
// against GGUF's block layouts as package kernels' reference quantizers
// write them: a full row is QuantizeQ8_0 (QuantizeQ4_0) of the row
// zero-padded to whole blocks; a pruned row is the same of its kept
// channels, as read back from the full row, zero-padded; and every row
// decodes to the reference dequantizer's values.
func TestBlockRowsAreGGUF(t *testing.T) {
	for _, tc := range []struct {
		typ        DType
		blockBytes int
		quantize   func([]byte, []float32)
		dequantize func([]float32, []byte)
	}{
		{Q8_0, kernels.BlockBytesQ8_0, kernels.QuantizeQ8_0, kernels.DequantizeQ8_0},
		{Q4_0, kernels.BlockBytesQ4_0, kernels.QuantizeQ4_0, kernels.DequantizeQ4_0},
	} {
		ref := func(x []float32) []byte {
			n := (len(x) + 31) / 32
			pad := make([]float32, 32*n)
			copy(pad, x)
			b := make([]byte, n*tc.blockBytes)
			tc.quantize(b, pad)
			return b
		}
		for _, d := range []int{8, 32, 40, 64, 96} {
			rng := rand.New(rand.NewPCG(uint64(d), uint64(tc.typ)))
			c, _ := New(Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: tc.typ, Capacity: 50})
			h := c.Head(0, 0)
			var keys [][]float32
			for p := range 40 {
				k, v := make([]float32, d), make([]float32, d)
				for i := range k {
					k[i], v[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()*3)
				}
				if p == 3 {
					clear(k) // a zero row: scale 0
				}
				h.Append(p, k, v)
				keys = append(keys, k)
				if got := h.vf.row(p); !bytes.Equal(got, ref(v)) {
					t.Fatalf("%v d=%d: value %d stored as % x, want % x", tc.typ, d, p, got, ref(v))
				}
			}
			// Decoding: the reference dequantizer's values, padding cut.
			full := make([]float32, d)
			for i, k := range keys {
				h.Key(full, i)
				b := ref(k)
				want := make([]float32, len(b)/tc.blockBytes*32)
				tc.dequantize(want, b)
				for c := range full {
					if full[c] != want[c] {
						t.Fatalf("%v d=%d: key %d channel %d reads %g, want %g", tc.typ, d, i, c, full[c], want[c])
					}
				}
			}
			kept := []int{0, 2, 3, d - 1}
			if d > 40 {
				kept = append(kept[:3], 5, 17, 31, 32, 33, 39, d-1)
			}
			before := make([][]float32, len(keys))
			for i := range keys {
				before[i] = make([]float32, d)
				h.Key(before[i], i)
			}
			if err := h.PruneKeys(kept, 10, 0); err != nil {
				t.Fatal(err)
			}
			for i := range 30 {
				g := make([]float32, len(kept))
				for j, c := range kept {
					g[j] = before[i][c]
				}
				if got := h.kp.row(i); !bytes.Equal(got, ref(g)) {
					t.Fatalf("%v d=%d: pruned key %d stored as % x, want % x", tc.typ, d, i, got, ref(g))
				}
			}
		}
	}
}

// TestBlockedScratch checks that attention over a blocked type allocates
// its codec scratch once: a second call of the same shape allocates nothing.
func TestBlockedScratch(t *testing.T) {
	for _, typ := range []DType{Q8_0, Q4_0} {
		c, _ := New(Config{Layers: 1, KVHeads: 1, HeadDim: 40, Type: typ, Capacity: 300})
		h := c.Head(0, 0)
		x := make([]float32, 40)
		for p := range 200 {
			x[p%40] = float32(p)
			h.Append(p, x, x)
		}
		h.PruneKeys([]int{1, 5, 9}, 32, 0)
		h.PruneValues([]int{0, 39}, 20, 0)
		s := NewScratch(4, 40)
		q, out := make([]float32, 4*40), make([]float32, 4*40)
		lim := []int{200, 150, 1, 70}
		h.AttendBlock(out, q, lim, 0.1, nil, s)
		if a := testing.AllocsPerRun(10, func() { h.AttendBlock(out, q, lim, 0.1, nil, s) }); a != 0 {
			t.Errorf("%v: %g allocations per AttendBlock once the scratch has grown", typ, a)
		}
	}
}

// TestBlockScratchBytes checks that a Scratch grows by at most
// BlockScratchBytes over a blocked cache with keys pruned, and by the
// dequantized value rows it counts when a row is not whole blocks.
func TestBlockScratchBytes(t *testing.T) {
	for _, tc := range [][2]int{{1, 8}, {4, 64}, {8, 40}} {
		m, d := tc[0], tc[1]
		c, _ := New(Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: Q4_0, Capacity: 300})
		h := c.Head(0, 0)
		for p := range 200 {
			h.Append(p, make([]float32, d), make([]float32, d))
		}
		h.PruneKeys([]int{0, d - 1}, 50, 0)
		s := NewScratch(m, d)
		lim := make([]int, m)
		for j := range lim {
			lim[j] = 200
		}
		h.AttendBlock(make([]float32, m*d), make([]float32, m*d), lim, 1, nil, s)
		got := 4 * int64(cap(s.qbuf)+cap(s.gbuf)+cap(s.vbuf))
		if want := BlockScratchBytes(m, d); got > want || (d%32 != 0 && cap(s.vbuf) != keyBlock*d) {
			t.Errorf("%d queries, d=%d: grew by %d bytes (%d value floats), BlockScratchBytes %d", m, d, got, cap(s.vbuf), want)
		}
	}
}
