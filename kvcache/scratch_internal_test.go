package kvcache

import "testing"

// TestScratchBytes checks ScratchBytes against the buffers NewScratch makes.
func TestScratchBytes(t *testing.T) {
	for _, tc := range [][2]int{{1, 8}, {4, 128}, {256, 64}, {7, 2}} {
		s := NewScratch(tc[0], tc[1])
		var got int64
		for _, b := range [][]float32{s.logits, s.max, s.sum, s.qg, s.acc, s.row} {
			got += 4 * int64(cap(b))
		}
		if want := ScratchBytes(tc[0], tc[1]); got != want {
			t.Errorf("NewScratch(%d, %d) holds %d bytes, ScratchBytes says %d", tc[0], tc[1], got, want)
		}
	}
}
