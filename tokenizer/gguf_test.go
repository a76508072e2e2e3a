package tokenizer

import (
	"strings"
	"testing"

	"github.com/thinkv/thinkv/gguf"
)

func loadGGUF(t testing.TB, rel string) *Tokenizer {
	t.Helper()
	f, err := gguf.Open(sharedPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestGGUFLlamaSPMVectors(t *testing.T) {
	tok := loadGGUF(t, vocabDir+"ggml-vocab-llama-spm.gguf")
	checkVectors(t, tok, loadVectors(t, "ggml-vocab-llama-spm.gguf"))
}

func TestGGUFPhi3Vectors(t *testing.T) {
	tok := loadGGUF(t, vocabDir+"ggml-vocab-phi-3.gguf")
	if tok.VocabSize() != 32064 || tok.EOS() != 32000 {
		t.Fatalf("phi-3: vocab %d, EOS %d", tok.VocabSize(), tok.EOS())
	}
	checkVectors(t, tok, loadVectors(t, "ggml-vocab-phi-3.gguf"))
}

// The GGUF and llama2.c files of one vocabulary must agree.
func checkSameVocab(t *testing.T, a, b *Tokenizer, texts []string) {
	t.Helper()
	va, vb := a.Vocab(), b.Vocab()
	if len(va.Pieces) != len(vb.Pieces) || va.BOS != vb.BOS || va.EOS != vb.EOS || va.UNK != vb.UNK ||
		va.AddSpacePrefix != vb.AddSpacePrefix {
		t.Fatalf("vocab headers differ: %d %d %d %d %v vs %d %d %d %d %v",
			len(va.Pieces), va.BOS, va.EOS, va.UNK, va.AddSpacePrefix,
			len(vb.Pieces), vb.BOS, vb.EOS, vb.UNK, vb.AddSpacePrefix)
	}
	for i := range va.Pieces {
		if va.Pieces[i] != vb.Pieces[i] || va.Scores[i] != vb.Scores[i] || va.Types[i] != vb.Types[i] {
			t.Errorf("token %d: %q %v %v vs %q %v %v", i, va.Pieces[i], va.Scores[i], va.Types[i],
				vb.Pieces[i], vb.Scores[i], vb.Types[i])
		}
	}
	for _, s := range texts {
		if ea, eb := a.Encode(s, true), b.Encode(s, true); !equalInts(ea, eb) {
			t.Errorf("Encode(%q): %v vs %v", s, ea, eb)
		}
	}
}

func TestGGUFStories260KMatchesTok512(t *testing.T) {
	g := loadGGUF(t, "models/stories260K/stories260K.gguf")
	b := loadLlama2C(t, "models/stories260K/tok512.bin", 512)
	if got := g.Encode("Once upon a time", true); !equalInts(got, []int{1, 403, 407, 261, 378}) {
		t.Errorf("GGUF Encode = %v", got)
	}
	texts := []string{"", "Once upon a time", " Lily's mom said, \"Hi!\"\n", "日本語 🙂 ünï"}
	for _, c := range loadVectors(t, "ggml-vocab-llama-spm.gguf") {
		texts = append(texts, c.text)
	}
	checkSameVocab(t, g, b, texts)
}

func TestGGUFLlamaSPMMatchesTokenizerBin(t *testing.T) {
	g := loadGGUF(t, vocabDir+"ggml-vocab-llama-spm.gguf")
	b := loadLlama2C(t, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	checkSameVocab(t, g, b, []string{"The quick brown fox", strings.Repeat("ab cd ", 100)})
}

// fakeMeta is an in-memory metadata source.
type fakeMeta map[string]any

func get[T any](m fakeMeta, key string) (T, bool) {
	v, ok := m[key].(T)
	return v, ok
}

func (m fakeMeta) String(k string) (string, bool)      { return get[string](m, k) }
func (m fakeMeta) Uint(k string) (uint64, bool)        { return get[uint64](m, k) }
func (m fakeMeta) Bool(k string) (bool, bool)          { return get[bool](m, k) }
func (m fakeMeta) Strings(k string) ([]string, bool)   { return get[[]string](m, k) }
func (m fakeMeta) Float32s(k string) ([]float32, bool) { return get[[]float32](m, k) }
func (m fakeMeta) Int32s(k string) ([]int32, bool)     { return get[[]int32](m, k) }

func TestFromMetadata(t *testing.T) {
	base := func() fakeMeta {
		return fakeMeta{
			keyModel:  "llama",
			keyTokens: []string{"<unk>", "<s>", "</s>", "▁a", "<0x62>"},
		}
	}
	tok, err := fromMetadata(base())
	if err != nil {
		t.Fatal(err)
	}
	if tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || !tok.AddSpacePrefix() || tok.Type(4) != Byte {
		t.Errorf("defaults: bos %d eos %d unk %d prefix %v type %v", tok.BOS(), tok.EOS(), tok.UNK(),
			tok.AddSpacePrefix(), tok.Type(4))
	}
	if got := tok.Encode("ab", false); !equalInts(got, []int{3, 4}) {
		t.Errorf("Encode = %v", got)
	}

	m := base()
	m[keyBOS], m[keyEOS], m[keyUNK] = uint64(2), uint64(0xFFFFFFFF), uint64(1)
	m[keyAddSpacePrefix] = false
	m[keyScores] = []float32{0, 0, 0, -1, 0}
	m[keyTokenType] = []int32{2, 3, 3, 1, 6}
	if tok, err = fromMetadata(m); err != nil {
		t.Fatal(err)
	}
	if tok.BOS() != 2 || tok.EOS() != 2 || tok.UNK() != 1 || tok.AddSpacePrefix() {
		t.Errorf("explicit: bos %d eos %d unk %d prefix %v", tok.BOS(), tok.EOS(), tok.UNK(), tok.AddSpacePrefix())
	}

	m = base()
	m[keyModel] = "bert"
	if _, err := fromMetadata(m); err == nil || !strings.Contains(err.Error(), `unsupported tokenizer model "bert"`) {
		t.Errorf("bert: err = %v", err)
	}
	m = base()
	m[keyModel] = "gpt2"
	if _, err := fromMetadata(m); err == nil || !strings.Contains(err.Error(), keyMerges) {
		t.Errorf("gpt2 without merges: err = %v", err)
	}
	m[keyMerges] = []string{}
	m[keyPre] = "no-such-pre"
	if _, err := fromMetadata(m); err == nil || !strings.Contains(err.Error(), `unsupported pre-tokenizer "no-such-pre"`) {
		t.Errorf("gpt2 with an unknown pre-tokenizer: err = %v", err)
	}
	for _, key := range []string{keyModel, keyTokens} {
		m = base()
		delete(m, key)
		if _, err := fromMetadata(m); err == nil {
			t.Errorf("without %s: no error", key)
		}
	}
	m = base()
	m[keyScores] = []float32{1}
	if _, err := fromMetadata(m); err == nil {
		t.Error("short scores: no error")
	}
	if _, err := FromGGUF(nil); err == nil {
		t.Error("nil file: no error")
	}
}

func TestGGUFGPT2Vectors(t *testing.T) {
	tok := loadGGUF(t, vocabDir+"ggml-vocab-gpt-2.gguf")
	if tok.VocabSize() != 50257 || tok.BOS() != 50256 || tok.EOS() != 50256 || tok.AddBOS() {
		t.Fatalf("gpt-2: vocab %d, BOS %d, EOS %d, AddBOS %v", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.AddBOS())
	}
	checkVectors(t, tok, loadVectors(t, "ggml-vocab-gpt-2.gguf"))
}
