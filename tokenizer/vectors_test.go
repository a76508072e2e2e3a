package tokenizer

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

const vocabDir = "tokenizers/llama-cpp-vocab/"

// vectorCase is one llama.cpp tokenizer test case.
type vectorCase struct {
	text string
	ids  []int
}

// loadVectors reads llama.cpp's <vocab>.inp/.out pair: inputs are each
// followed by "\n__ggml_vocab_test__\n", and each output line holds one
// case's ids (without BOS).
func loadVectors(tb testing.TB, name string) []vectorCase {
	tb.Helper()
	inp, err := os.ReadFile(sharedPath(tb, vocabDir+name+".inp"))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := os.ReadFile(sharedPath(tb, vocabDir+name+".out"))
	if err != nil {
		tb.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	texts := strings.Split(string(inp), sep)
	if texts[len(texts)-1] != "" {
		tb.Fatalf("%s.inp does not end with the separator", name)
	}
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		tb.Fatalf("%s: %d inputs but %d outputs", name, len(texts), len(lines))
	}
	cases := make([]vectorCase, len(texts))
	for i, text := range texts {
		cases[i].text = text
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				tb.Fatalf("%s.out line %d: %v", name, i+1, err)
			}
			cases[i].ids = append(cases[i].ids, id)
		}
	}
	return cases
}

// checkVectors encodes every case with tok and checks the ids, and that
// decoding gives the text back.
func checkVectors(t *testing.T, tok *Tokenizer, cases []vectorCase) {
	t.Helper()
	pass := 0
	for i, c := range cases {
		got := tok.Encode(c.text, false)
		if !equalInts(got, c.ids) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.text, got, c.ids)
			continue
		}
		withBOS, want := tok.Encode(c.text, true), got
		if tok.BOS() >= 0 { // without a BOS token (Qwen) nothing is added
			want = append([]int{tok.BOS()}, got...)
		}
		if !equalInts(withBOS, want) {
			t.Errorf("case %d %q: with BOS got %v", i, c.text, withBOS)
		}
		if dec := tok.Decode(got); dec != c.text {
			t.Errorf("case %d: Decode = %q, want %q", i, dec, c.text)
			continue
		}
		if dec := tok.Decode(withBOS); dec != c.text {
			t.Errorf("case %d: Decode with BOS = %q, want %q", i, dec, c.text)
			continue
		}
		pass++
	}
	t.Logf("%d/%d vectors pass (encode and decode round trip)", pass, len(cases))
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The llama2.c export of the Llama 2 vocabulary must reproduce llama.cpp's
// llama-spm vectors.
func TestLlama2CVocabVectors(t *testing.T) {
	tok := loadLlama2C(t, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	checkVectors(t, tok, loadVectors(t, "ggml-vocab-llama-spm.gguf"))
}
