package eval

import (
	"math"
	"testing"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// storiesText loads stories260K and a text of at least n tokens.
func storiesText(t *testing.T, n int) (*engine.Engine, []int) {
	t.Helper()
	dir := sharedtest.Dir(t)
	e, err := engine.Load(dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/tok512.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	var ids []int
	for len(ids) < n {
		ids = append(ids, e.Tok.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. ", len(ids) == 0)...)
	}
	return e, ids[:n]
}

// TestRepackSimulation checks the simulation of packing against the real
// thing: with the prefill's channels, zero-filling a full-width cache gives
// the packed cache's distributions (up to the order of float additions), for
// ThinK alone and after SnapKV or H2O; re-scoring the channels gives other
// distributions, still close to the full cache's.
func TestRepackSimulation(t *testing.T) {
	e, ids := storiesText(t, 330)
	const prefix = 250
	cfg := FidelityConfig{Tokens: ids, Prefix: prefix, KVType: kvcache.F32}
	full, _, err := run(e, cfg, kvcache.F32, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"think:ratio=0.5,recent=16,pack=8", "snapkv:budget=64+think:ratio=0.5,recent=8,pack=16,window=16", "h2o:budget=96,recent=8+think:ratio=0.5,pack=4"} {
		p, err := press.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		pk, ok := press.KeyPacking(p)
		if !ok {
			t.Fatalf("%s packs no keys", spec)
		}
		packed, _, err := run(e, cfg, kvcache.F32, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		fixed, err := repackRun(e, cfg, kvcache.F32, p, pk, false)
		if err != nil {
			t.Fatal(err)
		}
		rescored, err := repackRun(e, cfg, kvcache.F32, p, pk, true)
		if err != nil {
			t.Fatal(err)
		}
		var worst, moved, kl float64
		for i := range packed {
			worst = math.Max(worst, math.Abs(packed[i]-fixed[i]))
			moved = math.Max(moved, math.Abs(rescored[i]-fixed[i]))
			kl += math.Exp(full[i]) * (full[i] - rescored[i])
		}
		kl /= float64(len(ids) - prefix)
		t.Logf("%s: packed vs simulated max |Δ log p| %.2g; re-scored vs prefill channels %.2g, mean KL from the full cache %.4f", spec, worst, moved, kl)
		if worst > 1e-4 {
			t.Errorf("%s: the simulation with the prefill's channels differs from the packed cache by %g in log-probability", spec, worst)
		}
		if moved < 1e-3 || kl < 0 || kl > 0.5 {
			t.Errorf("%s: re-scored channels moved the log-probabilities by at most %g, mean KL %g", spec, moved, kl)
		}
	}
}

// TestFidelityRows: the reference is the first row; a press equal to it
// has no divergence; chunked compression in one chunk is the press itself;
// in several chunks it differs; the simulation rows follow a press that
// packs keys, with its bytes.
func TestFidelityRows(t *testing.T) {
	e, ids := storiesText(t, 300)
	p, err := press.Parse("snapkv:budget=64+think:ratio=0.5,recent=8,pack=8")
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{250, 50} {
		rep, err := Fidelity(e, FidelityConfig{Tokens: ids, Prefix: 250, KVType: kvcache.F32, Presses: []press.Press{p}, Reference: p, Chunked: chunk, Repack: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Results) != 5 {
			t.Fatalf("%d rows, want the reference, the press, its chunked row and two simulations", len(rep.Results))
		}
		ref, self, chunked, fixed, rescored := rep.Results[0], rep.Results[1], rep.Results[2], rep.Results[3], rep.Results[4]
		for _, r := range []FidelityResult{ref, self} {
			if r.Press != p.String() || r.KL != 0 || r.Top1 != 1 || r.Chunk != 0 {
				t.Errorf("%+v: want the press itself, no divergence", r)
			}
		}
		if chunked.Chunk != chunk || (chunk == 250) != (chunked.KL == 0) {
			t.Errorf("chunks of %d: %+v", chunk, chunked)
		}
		if fixed.Simulated != "prefill channels" || rescored.Simulated != "re-scored channels" || fixed.KVBytes != self.KVBytes || fixed.KL > 1e-6 || rescored.KL == 0 {
			t.Errorf("simulation rows %+v, %+v", fixed, rescored)
		}
	}
}
