package tokenizer

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// essayText returns about n bytes of Paul Graham essays.
func essayText(b testing.TB, n int) string {
	b.Helper()
	dir := sharedPath(b, "data/niah_paulgraham/PaulGrahamEssays")
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no essays in %s: %v", dir, err)
	}
	sort.Strings(files)
	var text []byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		text = append(text, data...)
		if len(text) >= n {
			break
		}
	}
	return string(text[:min(n, len(text))])
}

func BenchmarkEncode(b *testing.B) {
	tok := loadLlama2C(b, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	for _, n := range []int{10_000, 130_000} {
		text := essayText(b, n)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			var ids []int
			for b.Loop() {
				ids = tok.Encode(text, true)
			}
			b.ReportMetric(float64(len(ids)), "tokens")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := loadLlama2C(b, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	ids := tok.Encode(essayText(b, 10_000), true)
	for b.Loop() {
		tok.Decode(ids)
	}
}

func sizeName(n int) string {
	if n >= 1000 {
		return itoa(n/1000) + "k"
	}
	return itoa(n)
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + itoa(n%10)
}

// BenchmarkEncodeBPE encodes about 32k tokens with the Llama 3 and GPT-2
// byte-level vocabularies.
func BenchmarkEncodeBPE(b *testing.B) {
	text := essayText(b, 130_000)
	for _, c := range []struct {
		name string
		tok  func(testing.TB) *Tokenizer
	}{
		{"llama3", loadLlama3},
		{"gpt2", func(tb testing.TB) *Tokenizer {
			return loadGGUF(tb, vocabDir+"ggml-vocab-gpt-2.gguf")
		}},
	} {
		tok := c.tok(b)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			var ids []int
			for b.Loop() {
				ids = tok.Encode(text, true)
			}
			b.ReportMetric(float64(len(ids)), "tokens")
		})
	}
}
