// Command synthgguf writes a Llama-shaped GGUF with random weights and a
// synthetic SentencePiece vocabulary, in llama.cpp's layout, for speed
// comparisons that need no real model: both thinkv and llama.cpp load it.
//
//	go run ./scripts/synthgguf -o tinyllama-f16.gguf              # TinyLlama-1.1B's shapes, F16
//	go run ./scripts/synthgguf -o small.gguf -layers 2 -vocab 4096  # smaller
//
// Matrices are F16 (or F32 with -f32), normal with standard deviation
// 0.02; norms are ones, F32. The output is the same for the same flags.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
)

// shape is a model's hyper-parameters.
type shape struct {
	dim, hidden, layers, heads, kvHeads, vocab, context int
}

func main() {
	// TinyLlama-1.1B: 22 layers, dim 2048, 32 heads of 64 over 4 KV heads,
	// SwiGLU 5632, vocabulary 32,000, context 2,048.
	s := shape{}
	out := flag.String("o", "", "output GGUF file (required)")
	flag.IntVar(&s.dim, "dim", 2048, "embedding width")
	flag.IntVar(&s.hidden, "hidden", 5632, "MLP width")
	flag.IntVar(&s.layers, "layers", 22, "transformer blocks")
	flag.IntVar(&s.heads, "heads", 32, "query heads")
	flag.IntVar(&s.kvHeads, "kv-heads", 4, "key/value heads")
	flag.IntVar(&s.vocab, "vocab", 32000, "vocabulary size (at least 300)")
	flag.IntVar(&s.context, "ctx", 2048, "context length")
	f32 := flag.Bool("f32", false, "store the matrices as F32 instead of F16")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/synthgguf -o OUT.gguf [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if err := write(*out, s, *f32, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "synthgguf:", err)
		os.Exit(1)
	}
}

// tensor is one weight to write: its name, GGUF shape (fastest dimension
// first), the standard deviation of its values and their mean.
type tensor struct {
	name      string
	shape     []uint64
	std, mean float64
}

func write(path string, s shape, f32 bool, seed uint64) error {
	if s.vocab < 300 || s.heads%s.kvHeads != 0 || s.dim%s.heads != 0 || s.dim%32 != 0 || s.hidden%32 != 0 {
		return fmt.Errorf("bad shape %+v", s)
	}
	headDim := s.dim / s.heads
	w := gguf.NewWriter()
	w.AddKV("general.architecture", gguf.StringValue("llama"))
	w.AddKV("general.name", gguf.StringValue("synthetic"))
	fileType := uint32(1) // LLAMA_FTYPE_MOSTLY_F16
	if f32 {
		fileType = 0
	}
	w.AddKV("general.file_type", gguf.Uint32Value(fileType))
	for _, kv := range []struct {
		key string
		v   int
	}{{"context_length", s.context}, {"embedding_length", s.dim}, {"feed_forward_length", s.hidden},
		{"attention.head_count", s.heads}, {"attention.head_count_kv", s.kvHeads}, {"block_count", s.layers},
		{"rope.dimension_count", headDim}} {
		w.AddKV("llama."+kv.key, gguf.Uint32Value(uint32(kv.v)))
	}
	w.AddKV("llama.rope.freq_base", gguf.Float32Value(10000))
	w.AddKV("llama.attention.layer_norm_rms_epsilon", gguf.Float32Value(1e-5))
	addVocab(w, s.vocab)

	d, h, kv, v := uint64(s.dim), uint64(s.hidden), uint64(s.kvHeads*headDim), uint64(s.vocab)
	ts := []tensor{{"token_embd.weight", []uint64{d, v}, 0.02, 0}}
	for l := 0; l < s.layers; l++ {
		n := func(x string) string { return fmt.Sprintf("blk.%d.%s.weight", l, x) }
		ts = append(ts,
			tensor{n("attn_norm"), []uint64{d}, 0, 1},
			tensor{n("attn_q"), []uint64{d, d}, 0.02, 0},
			tensor{n("attn_k"), []uint64{d, kv}, 0.02, 0},
			tensor{n("attn_v"), []uint64{d, kv}, 0.02, 0},
			tensor{n("attn_output"), []uint64{d, d}, 0.02, 0},
			tensor{n("ffn_norm"), []uint64{d}, 0, 1},
			tensor{n("ffn_gate"), []uint64{d, h}, 0.02, 0},
			tensor{n("ffn_down"), []uint64{h, d}, 0.02, 0},
			tensor{n("ffn_up"), []uint64{d, h}, 0.02, 0})
	}
	ts = append(ts, tensor{"output_norm.weight", []uint64{d}, 0, 1}, tensor{"output.weight", []uint64{d, v}, 0.02, 0})

	// Each tensor's values come from its own generator, so the file does not
	// depend on the order the workers run in.
	data := make([][]byte, len(ts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, t := range ts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			data[i] = values(t, f32 || len(t.shape) == 1, rand.New(rand.NewPCG(seed, uint64(i))))
		}()
	}
	wg.Wait()
	for i, t := range ts {
		typ := gguf.TypeF16
		if f32 || len(t.shape) == 1 {
			typ = gguf.TypeF32
		}
		if err := w.AddTensor(t.name, typ, t.shape, data[i]); err != nil {
			return err
		}
	}
	return w.WriteFile(path)
}

// values returns t's random values encoded as F32 (f32) or F16.
func values(t tensor, f32 bool, rng *rand.Rand) []byte {
	n := uint64(1)
	for _, x := range t.shape {
		n *= x
	}
	size := uint64(2)
	if f32 {
		size = 4
	}
	b := make([]byte, n*size)
	for i := uint64(0); i < n; i++ {
		x := float32(t.mean + t.std*rng.NormFloat64())
		if f32 {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		} else {
			binary.LittleEndian.PutUint16(b[2*i:], kernels.F32ToF16(x))
		}
	}
	return b
}

// addVocab writes a SentencePiece ("llama") vocabulary of n tokens: <unk>,
// <s>, </s>, the 256 byte tokens, then distinct pieces of letters (some
// starting with ▁, the space), with falling scores.
func addVocab(w *gguf.Writer, n int) {
	const (
		normal  = 1
		unknown = 2
		control = 3
		byteTok = 6
	)
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{unknown, control, control}
	for b := 0; b < 256; b++ {
		tokens, types = append(tokens, fmt.Sprintf("<0x%02X>", b)), append(types, byteTok)
	}
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for i := 0; len(tokens) < n; i++ {
		// i written in base 26 with letters, every other one after a space.
		piece := ""
		for k := i/2 + 1; k > 0; k = (k - 1) / 26 {
			piece = string(letters[(k-1)%26]) + piece
		}
		if i%2 == 0 {
			piece = "▁" + piece
		}
		tokens, types = append(tokens, piece), append(types, normal)
	}
	scores := make([]float32, n)
	for i := range scores {
		if types[i] == normal {
			scores[i] = -float32(i)
		}
	}
	w.AddKV("tokenizer.ggml.model", gguf.StringValue("llama"))
	w.AddKV("tokenizer.ggml.pre", gguf.StringValue("default"))
	w.AddKV("tokenizer.ggml.tokens", gguf.StringsValue(tokens))
	w.AddKV("tokenizer.ggml.scores", gguf.Float32sValue(scores))
	w.AddKV("tokenizer.ggml.token_type", gguf.Int32sValue(types))
	w.AddKV("tokenizer.ggml.bos_token_id", gguf.Uint32Value(1))
	w.AddKV("tokenizer.ggml.eos_token_id", gguf.Uint32Value(2))
	w.AddKV("tokenizer.ggml.unknown_token_id", gguf.Uint32Value(0))
	w.AddKV("tokenizer.ggml.add_bos_token", gguf.BoolValue(true))
}
