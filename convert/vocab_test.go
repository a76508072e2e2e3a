package convert_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/thinkv/thinkv/convert"
	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/tokenizer"
)

// TestLlama3VocabThroughGGUF writes Llama 3's byte-level BPE vocabulary into
// a GGUF (padded to a larger embedding, as Qwen2's is) and reads it back:
// the tokenizer must encode exactly as the tokenizer.json it came from.
func TestLlama3VocabThroughGGUF(t *testing.T) {
	dir := sharedtest.Dir(t)
	gz, err := os.ReadFile(dir + "/tokenizers/llama3-bpe/tokenizer.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(r)
	cfg, _ := os.ReadFile(dir + "/tokenizers/llama3-bpe/tokenizer_config.json")
	src, err := tokenizer.ParseHF(tokenizer.HFFiles{Tokenizer: raw, TokenizerConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	// A tiny model whose embedding has 8 rows more than the vocabulary.
	names, shapes, data := tinyWeights(src.VocabSize() + 8)
	w := gguf.NewWriter()
	for _, n := range names {
		if err := w.AddFloat32Tensor(n, gguf.TypeF32, shapes[n], data[n]); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	writeTiny(t, w, path)
	m, _, err := model.Load(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out, err := convert.ToGGUF(m, src, gguf.TypeF32, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	conv := filepath.Join(t.TempDir(), "c.gguf")
	if err := out.WriteFile(conv); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(conv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	text := "Hello world! Ünïcödé, numbers 12345 and   spaces\n\tthe end <|eot_id|>"
	a, b := src.Encode(text, true), back.Encode(text, true)
	if len(a) != len(b) {
		t.Fatalf("encodings differ:\n%v\n%v", a, b)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("encodings differ at %d:\n%v\n%v", i, a, b)
		}
	}
	if !back.IsEOG(src.EOS()) || back.AddBOS() != src.AddBOS() || back.BOS() != src.BOS() {
		t.Errorf("special tokens lost: eos %d bos %d add_bos %v", back.EOS(), back.BOS(), back.AddBOS())
	}
	if back.VocabSize() != src.VocabSize()+8 || back.Decode(b) != src.Decode(a) {
		t.Errorf("vocabulary %d (want %d + 8 padding), decode %q vs %q", back.VocabSize(), src.VocabSize(), back.Decode(b), src.Decode(a))
	}
}

// tinyWeights returns a one-layer llama model's weights with vocab rows.
func tinyWeights(vocab int) ([]string, map[string][]uint64, map[string][]float32) {
	const d, h = 32, 64
	shapes := map[string][]uint64{
		"token_embd.weight": {d, uint64(vocab)}, "output_norm.weight": {d},
		"blk.0.attn_norm.weight": {d}, "blk.0.ffn_norm.weight": {d},
		"blk.0.attn_q.weight": {d, d}, "blk.0.attn_k.weight": {d, d}, "blk.0.attn_v.weight": {d, d},
		"blk.0.attn_output.weight": {d, d}, "blk.0.ffn_gate.weight": {d, h}, "blk.0.ffn_up.weight": {d, h},
		"blk.0.ffn_down.weight": {h, d},
	}
	var names []string
	data := map[string][]float32{}
	for n, s := range shapes {
		names = append(names, n)
		size := uint64(1)
		for _, x := range s {
			size *= x
		}
		v := make([]float32, size)
		for i := range v {
			v[i] = float32(i%13) * 0.01
		}
		data[n] = v
	}
	return names, shapes, data
}

func writeTiny(t *testing.T, w *gguf.Writer, path string) {
	t.Helper()
	w.AddKV("general.architecture", gguf.StringValue("llama"))
	for k, v := range map[string]uint32{"context_length": 64, "embedding_length": 32, "block_count": 1,
		"feed_forward_length": 64, "attention.head_count": 4, "attention.head_count_kv": 4} {
		w.AddKV("llama."+k, gguf.Uint32Value(v))
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}
