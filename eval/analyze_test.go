package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSpectrumIdentities checks the analysis arithmetic on random data: the
// squared singular values of Q·Kᵀ/√D add up to its squared Frobenius norm,
// keeping every channel keeps all the energy with no error, and pruning more
// keeps less.
func TestSpectrumIdentities(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const d, w, n = 8, 5, 40
	randn := func(k int) []float64 {
		x := make([]float64, k)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		return x
	}
	q, k := randn(w*d), randn(n*d)
	// Make channel 3 dominant, as in real keys.
	for i := 0; i < n; i++ {
		k[i*d+3] *= 10
	}
	sv := singularValues(q, k, d)
	var sum2 float64
	for i, s := range sv {
		sum2 += s * s
		if i > 0 && s > sv[i-1] {
			t.Errorf("singular values not sorted: %v", sv)
		}
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7}
	if want := partNorm2([][]float64{q}, k, d, all) / d; math.Abs(sum2-want) > 1e-9*want {
		t.Errorf("Σσ² = %g, ‖QKᵀ/√D‖² = %g", sum2, want)
	}
	if len(sv) != w || rankFor(sv, 1) != w || rankFor(sv, 0) != 1 {
		t.Errorf("%d values, ranks %d %d", len(sv), rankFor(sv, 1), rankFor(sv, 0))
	}
	energy, errs := channelEnergy([][]float64{q}, k, d, []float64{0, 0.5, 0.875})
	if energy[0] != 1 || errs[0] != 0 {
		t.Errorf("ratio 0: energy %g, error %g", energy[0], errs[0])
	}
	if !(energy[1] < 1 && energy[2] < energy[1] && errs[1] > 0 && errs[2] > errs[1]) {
		t.Errorf("energy %v, errors %v: pruning more should keep less", energy, errs)
	}
	// At 7/8 only the dominant channel is left: it holds most of the energy.
	if energy[2] < 0.5 {
		t.Errorf("the dominant channel holds %g of the energy", energy[2])
	}
	if m := rms(k, d); m[3] < 5*m[0] {
		t.Errorf("rms %v", m)
	}
}
