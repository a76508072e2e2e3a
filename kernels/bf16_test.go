package kernels

import (
	"math/rand/v2"
	"testing"
)

func TestBF16Matrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols = 5, 37
	w := make([]uint16, rows*cols)
	want := make([]float32, rows*cols)
	for i := range w {
		w[i] = F32ToBF16(float32(rng.NormFloat64()))
		want[i] = BF16ToF32(w[i])
	}
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	b := make([]byte, 2*len(w))
	copy(b, unsafeBytes(w))
	m, err := NewMatrix(BF16, rows, cols, b)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, cols)
	for r := 0; r < rows; r++ {
		m.Row(row, r)
		for c := range row {
			if row[c] != want[r*cols+c] {
				t.Fatalf("row %d col %d: %v, want %v", r, c, row[c], want[r*cols+c])
			}
		}
		got, ref := m.RowDot(r, x), dotGeneric(want[r*cols:(r+1)*cols], x)
		if d := got - ref; d > 1e-5 || d < -1e-5 {
			t.Errorf("row %d: dot %v, want %v", r, got, ref)
		}
	}
}

func unsafeBytes(w []uint16) []byte {
	b := make([]byte, 2*len(w))
	for i, v := range w {
		b[2*i], b[2*i+1] = byte(v), byte(v>>8)
	}
	return b
}
