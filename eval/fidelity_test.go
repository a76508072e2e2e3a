package eval_test

import (
	"testing"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/eval"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// TestFidelity runs the fidelity measurement on stories260K and checks the
// identities it must satisfy: the full cache (and ThinK at ratio 0, which
// changes nothing) agree with themselves exactly; a real press diverges a
// little and holds fewer bytes, exactly as many as its closed form.
func TestFidelity(t *testing.T) {
	dir := sharedtest.Dir(t)
	e, err := engine.Load(dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/tok512.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var ids []int
	for len(ids) < 300 {
		ids = append(ids, e.Tok.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. ", len(ids) == 0)...)
	}
	var presses []press.Press
	for _, s := range []string{"think:ratio=0", "snapkv:budget=64+think:ratio=0.5"} {
		p, err := press.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		presses = append(presses, p)
	}
	const prefix, forced = 250, 40
	rep, err := eval.Fidelity(e, eval.FidelityConfig{Tokens: ids[:prefix+forced], Prefix: prefix, KVType: kvcache.F32, Presses: presses})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("got %d rows, want 3", len(rep.Results))
	}
	for _, r := range rep.Results[:2] {
		if r.KL != 0 || r.Top1 != 1 || r.Perplexity != rep.Results[0].Perplexity || r.KVBytes != r.KVBytesFull {
			t.Errorf("%s: %+v, want no divergence from the full cache", r.Press, r)
		}
	}
	r := rep.Results[2]
	if r.KL <= 0 || r.KL > 0.5 || r.Top1 < 0.5 {
		t.Errorf("%s: KL %g, top-1 %g: implausible", r.Press, r.KL, r.Top1)
	}
	// Per head and layer: keys (64−32)·4 + 32·8, values 64·8, f32, at prefill;
	// 5 layers × 4 KV heads.
	if want := int64(5*4*((64-32)*4+32*8+64*8)) * 4; r.KVBytesPrefill != want {
		t.Errorf("prefill bytes %d, want %d", r.KVBytesPrefill, want)
	}
	if r.KVBytesPrefillFull != int64(5*4*2*8*prefix*4) {
		t.Errorf("full prefill bytes %d", r.KVBytesPrefillFull)
	}
}
