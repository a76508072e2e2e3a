package gguf

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

// sharedFile returns the path of rel inside the shared test-data folder; see
// internal/sharedtest for when it skips and when it fails.
func sharedFile(t *testing.T, rel string) string {
	t.Helper()
	return sharedtest.Path(t, filepath.FromSlash(rel))
}

func TestStories260K(t *testing.T) {
	f, err := Open(sharedFile(t, "models/stories260K/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	if f.Version != 3 || f.Alignment != 32 || len(f.KV) != 19 || len(f.Tensors) != 48 {
		t.Errorf("version %d alignment %d, %d pairs, %d tensors; want 3, 32, 19, 48",
			f.Version, f.Alignment, len(f.KV), len(f.Tensors))
	}
	if s, _ := f.String("general.architecture"); s != "llama" {
		t.Errorf("general.architecture = %q, want llama", s)
	}
	for key, want := range map[string]uint64{
		"llama.context_length":          128,
		"llama.embedding_length":        64,
		"llama.feed_forward_length":     172,
		"llama.block_count":             5,
		"llama.attention.head_count":    8,
		"llama.attention.head_count_kv": 4,
		"llama.rope.dimension_count":    8,
		"tokenizer.ggml.bos_token_id":   1,
		"tokenizer.ggml.eos_token_id":   2,
	} {
		if got, ok := f.Uint(key); !ok || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, ok, want)
		}
	}
	if eps, ok := f.Float("llama.attention.layer_norm_rms_epsilon"); !ok || float32(eps) != 1e-5 {
		t.Errorf("rms epsilon = %g, %v", eps, ok)
	}
	tokens, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) != 512 || tokens[0] != "<unk>" || tokens[1] != "<s>" || tokens[3] != "<0x00>" {
		t.Errorf("tokenizer.ggml.tokens: %d tokens, ok %v", len(tokens), ok)
	}
	if scores, ok := f.Float32s("tokenizer.ggml.scores"); !ok || len(scores) != 512 {
		t.Errorf("tokenizer.ggml.scores: %d, %v", len(scores), ok)
	}
	if types, ok := f.Int32s("tokenizer.ggml.token_type"); !ok || len(types) != 512 || types[0] != 2 || types[1] != 3 || types[3] != 6 {
		t.Errorf("tokenizer.ggml.token_type: %v", ok)
	}

	emb, ok := f.Tensor("token_embd.weight")
	if !ok || emb.Type != TypeF32 || !reflect.DeepEqual(emb.Shape, []uint64{64, 512}) || emb.Bytes() != 64*512*4 {
		t.Fatalf("token_embd.weight = %+v", emb)
	}
	if ti, ok := f.Tensor("blk.0.ffn_down.weight"); !ok || !reflect.DeepEqual(ti.Shape, []uint64{172, 64}) {
		t.Errorf("blk.0.ffn_down.weight = %+v", ti)
	}

	// The llama2.c checkpoint holds the same weights: 7 int32 of header,
	// then token_embedding[512][64] as float32.
	ckpt, err := os.ReadFile(sharedFile(t, "models/stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var hdr [7]int32
	for i := range hdr {
		hdr[i] = int32(binary.LittleEndian.Uint32(ckpt[4*i:]))
	}
	if hdr != [7]int32{64, 172, 5, 8, 4, 512, 512} {
		t.Fatalf("checkpoint header = %v", hdr)
	}
	got, err := f.Float32Tensor("token_embd.weight")
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if want := math.Float32frombits(binary.LittleEndian.Uint32(ckpt[28+4*i:])); g != want {
			t.Fatalf("token_embd.weight[%d] = %g, checkpoint has %g", i, g, want)
		}
	}
	if raw := f.TensorData(emb); string(raw) != string(ckpt[28:28+64*512*4]) {
		t.Errorf("TensorData(token_embd.weight) differs from the checkpoint bytes")
	}
}

func TestVocabOnly(t *testing.T) {
	f, err := Open(sharedFile(t, "tokenizers/llama-cpp-vocab/ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Tensors) != 0 || len(f.KV) != 22 {
		t.Errorf("%d tensors, %d pairs; want 0, 22", len(f.Tensors), len(f.KV))
	}
	if s, _ := f.String("tokenizer.ggml.model"); s != "llama" {
		t.Errorf("tokenizer.ggml.model = %q", s)
	}
	if n, _ := f.Uint("llama.vocab_size"); n != 32000 {
		t.Errorf("llama.vocab_size = %d", n)
	}
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	scores, _ := f.Float32s("tokenizer.ggml.scores")
	types, _ := f.Int32s("tokenizer.ggml.token_type")
	if len(tokens) != 32000 || len(scores) != 32000 || len(types) != 32000 {
		t.Errorf("vocab arrays: %d tokens, %d scores, %d types", len(tokens), len(scores), len(types))
	}
	if add, ok := f.Bool("tokenizer.ggml.add_bos_token"); !ok || !add {
		t.Errorf("tokenizer.ggml.add_bos_token = %v, %v", add, ok)
	}
	if add, ok := f.Bool("tokenizer.ggml.add_eos_token"); !ok || add {
		t.Errorf("tokenizer.ggml.add_eos_token = %v, %v", add, ok)
	}
}
