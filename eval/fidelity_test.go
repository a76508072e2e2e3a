package eval_test

import (
	"math"
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

// TestFidelityTypes runs the fidelity measurement with a cache type list
// (f16, then q8_0 and q4_0) on the needle model (4 layers, 2 KV heads of 64
// channels) and checks: the rows come type by type, each carrying its type;
// every row is compared with the full cache of the first type (its KL
// against log-probabilities recomputed here, step by step, and its
// full-cache bytes those of an f16 cache); and every row's bytes are the
// closed form for its own type: at prefill, rows of kvcache.DType.RowBytes
// (ThinK's 32 kept channels of 64 are one whole block), at the end
// press.MaxBytesAfterCompress, which these presses reach exactly.
func TestFidelityTypes(t *testing.T) {
	e, err := engine.Load(sharedtest.Path(t, "models", "needle", "needle.gguf"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var ids []int
	for len(ids) < 400 {
		ids = append(ids, e.Tok.Encode("The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day. ", len(ids) == 0)...)
	}
	const prefix, forced = 300, 24
	ids = ids[:prefix+forced]
	specs := []string{"none", "think:ratio=0.5", "snapkv:budget=64"}
	presses := make([]press.Press, len(specs))
	for i, s := range specs[1:] {
		if presses[i+1], err = press.Parse(s); err != nil {
			t.Fatal(err)
		}
	}
	types := []kvcache.DType{kvcache.F16, kvcache.Q8_0, kvcache.Q4_0}
	rep, err := eval.Fidelity(e, eval.FidelityConfig{Tokens: ids, Prefix: prefix, KVType: types[0], Types: types[1:], Presses: presses[1:]})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(types)*len(specs) || rep.KVType != "f16" {
		t.Fatalf("%d rows of reference type %s, want %d of f16", len(rep.Results), rep.KVType, len(types)*len(specs))
	}
	m := e.Model
	lh := int64(m.Config.Layers * m.KVHeads)
	if lh != 8 || m.HeadDim != 64 {
		t.Fatalf("needle has %d layers × KV heads of %d channels, want 8 of 64", lh, m.HeadDim)
	}
	ref := forcedLogProbs(t, e, ids, prefix, types[0], nil)
	f16 := kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: 64, Type: kvcache.F16}
	for i, r := range rep.Results {
		typ, spec, p := types[i/len(specs)], specs[i%len(specs)], presses[i%len(specs)]
		if r.KVType != typ.String() || (p == nil) != (r.Press == "none") {
			t.Fatalf("row %d is %s %s, want %s %s", i, r.KVType, r.Press, typ, spec)
		}
		full, half := typ.RowBytes(64), typ.RowBytes(32)
		prefill := map[string]int64{
			"none":             lh * 2 * full * prefix,
			"think:ratio=0.5":  lh * ((prefix-32)*half + 32*full + prefix*full), // 32 recent keys full
			"snapkv:budget=64": lh * 2 * full * 64,
		}[spec]
		cfg := f16
		cfg.Type = typ
		if r.KVBytesPrefill != prefill || r.KVBytes != press.MaxBytesAfterCompress(p, cfg, prefix, forced-1) {
			t.Errorf("%s %s: bytes %d at prefill, %d at the end; want %d, %d", typ, spec, r.KVBytesPrefill, r.KVBytes,
				prefill, press.MaxBytesAfterCompress(p, cfg, prefix, forced-1))
		}
		if r.KVBytesPrefillFull != f16.TokenBytes()*prefix || r.KVBytesFull != f16.TokenBytes()*(prefix+forced-1) {
			t.Errorf("%s %s: full bytes %d, %d, want the f16 cache's %d, %d", typ, spec, r.KVBytesPrefillFull, r.KVBytesFull,
				f16.TokenBytes()*prefix, f16.TokenBytes()*(prefix+forced-1))
		}
		kl, klMax, top1 := compare(ref, forcedLogProbs(t, e, ids, prefix, typ, p), forced)
		if math.Abs(r.KL-kl) > 1e-12 || math.Abs(r.KLMax-klMax) > 1e-12 || r.Top1 != top1 {
			t.Errorf("%s %s: KL %g (max %g), top-1 %g; against the f16 full cache %g (max %g), %g", typ, spec, r.KL, r.KLMax, r.Top1, kl, klMax, top1)
		}
	}
	// The full caches: f16 is the reference itself; q8_0 moves the
	// distributions a little, q4_0 more.
	none16, none8, none4 := rep.Results[0], rep.Results[len(specs)], rep.Results[2*len(specs)]
	if none16.KL != 0 || none16.Top1 != 1 || !(0 < none8.KL && none8.KL < none4.KL && none4.KL < 0.1) {
		t.Errorf("full caches' KL: f16 %g, q8_0 %g, q4_0 %g", none16.KL, none8.KL, none4.KL)
	}
}

// forcedLogProbs prefills ids[:prefix] into a cache of type typ under p
// (nil: none) and teacher-forces the rest, returning each next-token
// log-softmax, [forced × vocab].
func forcedLogProbs(t *testing.T, e *engine.Engine, ids []int, prefix int, typ kvcache.DType, p press.Press) []float64 {
	t.Helper()
	c, s, err := e.NewSequence(prefix, len(ids)-1, typ)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := e.Prefill(s, c, ids[:prefix], p)
	var out []float64
	for i := prefix; err == nil; i++ {
		mx := math.Inf(-1)
		for _, v := range logits {
			mx = math.Max(mx, float64(v))
		}
		var sum float64
		for _, v := range logits {
			sum += math.Exp(float64(v) - mx)
		}
		for _, v := range logits {
			out = append(out, float64(v)-mx-math.Log(sum))
		}
		if i == len(ids)-1 {
			return out
		}
		logits, err = e.Decode(s, c, ids[i], p)
	}
	t.Fatal(err)
	return nil
}

// compare returns the mean and largest KL(ref ‖ q) over the forced steps
// and the share of steps whose argmax agree.
func compare(ref, q []float64, forced int) (mean, most, top1 float64) {
	vocab, agree := len(ref)/forced, 0
	for i := range forced {
		a, b := ref[i*vocab:(i+1)*vocab], q[i*vocab:(i+1)*vocab]
		var kl float64
		ia, ib := 0, 0
		for j := range a {
			kl += math.Exp(a[j]) * (a[j] - b[j])
			if a[j] > a[ia] {
				ia = j
			}
			if b[j] > b[ib] {
				ib = j
			}
		}
		mean += kl / float64(forced)
		most = math.Max(most, kl)
		if ia == ib {
			agree++
		}
	}
	return mean, most, float64(agree) / float64(forced)
}
