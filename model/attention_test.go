package model

import (
	"math"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// TestAttentionChunkSplit decodes past kvcache.AttendChunk cached tokens on
// one worker (each head one task) and on three (each head split into a
// task per chunk, merged afterwards) and checks that the logits are the
// same bits, with keys pruned by ThinK and without, and that the split
// State holds no more than StateBytes says.
func TestAttentionChunkSplit(t *testing.T) {
	m, _, err := Load(sharedtest.Path(t, "models", "needle", "needle.gguf"), 4096) // past its 2,048 for three chunks
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const prompt, steps = 2*kvcache.AttendChunk + 100, 3
	toks := make([]int, prompt+steps)
	for i := range toks {
		toks[i] = (i*131 + 7) % m.Vocab
	}
	cfg := kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F16, Capacity: prompt + steps}
	for _, pruned := range []bool{false, true} {
		base, _ := kvcache.New(cfg)
		if _, err := m.Forward(m.NewState(nil, 256), base, toks[:prompt], false, nil); err != nil {
			t.Fatal(err)
		}
		if pruned {
			kept := make([]int, 0, m.HeadDim/2)
			for j := 0; j < m.HeadDim; j += 2 {
				kept = append(kept, j)
			}
			for l := range cfg.Layers {
				for g := range cfg.KVHeads {
					if err := base.Head(l, g).PruneKeys(kept, 32, 0); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		var want [steps][]float32
		for _, workers := range []int{1, 3} {
			pool := kernels.NewPool(workers)
			s, c := m.NewState(pool, 1), base.Clone()
			for i := range steps {
				logits, err := m.Forward(s, c, toks[prompt+i:prompt+i+1], false, nil)
				if err != nil {
					t.Fatal(err)
				}
				if workers == 1 {
					want[i] = append([]float32(nil), logits...)
					continue
				}
				for v := range logits {
					if math.Float32bits(logits[v]) != math.Float32bits(want[i][v]) {
						t.Fatalf("pruned %v, step %d, logit %d: %v on %d workers, %v on one", pruned, i, v, logits[v], workers, want[i][v])
					}
				}
			}
			if workers > 1 {
				if chunks := (prompt + steps + kvcache.AttendChunk - 1) / kvcache.AttendChunk; len(s.parts) != m.KVHeads*chunks {
					t.Errorf("%d chunk states, want %d KV heads × %d chunks", len(s.parts), m.KVHeads, chunks)
				}
				if held, est := stateBytes(s), m.StateBytes(workers, 1, prompt+steps, cfg.Type); held > est {
					t.Errorf("the State holds %d bytes, StateBytes says %d", held, est)
				}
			}
			pool.Close()
		}
	}
}
