package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ropeRef is RoPE as it was before the table: math.Sincos per call.
func ropeRef(s *State, x []float32, heads, headDim, pos int) {
	half := len(s.freqs)
	for i, f := range s.freqs {
		sin, cos := math.Sincos(float64(pos) * f)
		c, sn := float32(cos), float32(sin)
		j0, j1 := 2*i, 2*i+1
		if s.neox {
			j0, j1 = i, i+half
		}
		for h := 0; h < heads; h++ {
			o := h * headDim
			a, b := x[o+j0], x[o+j1]
			x[o+j0] = a*c - b*sn
			x[o+j1] = a*sn + b*c
		}
	}
}

// TestRopeTable checks that rope from the table is bit for bit the rotation
// computed at each call, in both pairings, with partial rotary dimensions
// and scaled frequencies, at positions visited in an order that grows the
// table by doubling and by jumps far ahead.
func TestRopeTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, m := range []*Model{
		{Config: Config{Dim: 64, Hidden: 64, Heads: 4, KVHeads: 2, HeadDim: 16, Vocab: 8, RopeDim: 16, RopeTheta: 10000}},
		{Config: Config{Dim: 64, Hidden: 64, Heads: 2, KVHeads: 1, HeadDim: 32, Vocab: 8, RopeDim: 16, RopeTheta: 500000, RopeNeoX: true, RopeScale: 4}},
		{Config: Config{Dim: 64, Hidden: 64, Heads: 2, KVHeads: 2, HeadDim: 32, Vocab: 8, RopeDim: 32, RopeTheta: 1e6},
			RopeFactors: []float32{1, 1, 2, 2, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8}},
	} {
		cfg := m.Config
		s := m.NewState(nil, 1)
		var positions []int
		for p := range 300 {
			positions = append(positions, p)
		}
		for range 200 {
			positions = append(positions, rng.IntN(300))
		}
		positions = append(positions, 100_000, 5, 1<<20, 99_999, 1<<20-1)
		x, want := make([]float32, cfg.Heads*cfg.HeadDim), make([]float32, cfg.Heads*cfg.HeadDim)
		for _, pos := range positions {
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			copy(want, x)
			s.rope(x, cfg.Heads, cfg.HeadDim, pos)
			ropeRef(s, want, cfg.Heads, cfg.HeadDim, pos)
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v, position %d: channel %d is %g, want %g", cfg, pos, i, x[i], want[i])
				}
			}
		}
		// Doubling from 1 to 512 over the first 300 positions, then a jump
		// to each far position.
		if got, want := len(s.rot), (1<<20+1)*cfg.RopeDim; got != want {
			t.Errorf("%+v: table of %d floats after position %d, want %d", cfg, got, 1<<20, want)
		}
	}
}
