package tokenizer

import (
	"cmp"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"slices"
	"testing"
)

// loadLlama3 loads the shared Llama 3 tokenizer.json.gz with its
// tokenizer_config.json.
func loadLlama3(tb testing.TB) *Tokenizer {
	tb.Helper()
	gz, err := os.Open(sharedPath(tb, "tokenizers/llama3-bpe/tokenizer.json.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		tb.Fatal(err)
	}
	var f HFFiles
	if f.Tokenizer, err = io.ReadAll(zr); err != nil {
		tb.Fatal(err)
	}
	if f.TokenizerConfig, err = os.ReadFile(sharedPath(tb, "tokenizers/llama3-bpe/tokenizer_config.json")); err != nil {
		tb.Fatal(err)
	}
	tok, err := ParseHF(f)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// llama.cpp's vectors cover Llama 3 (llama-bpe, through the shared
// tokenizer.json.gz), GPT-2 (its GGUF, in gguf_test.go) and Llama 2
// (llama-spm). The qwen2 vectors (ggml-vocab-qwen2.gguf.inp/.out) cannot
// run here: shared/ has no Qwen2 vocabulary, as GGUF or tokenizer.json. Its
// split rule is checked against regexp2 in split_test.go.

func TestHFLlama3Vectors(t *testing.T) {
	tok := loadLlama3(t)
	if tok.VocabSize() != 128256 || tok.BOS() != 128000 || tok.EOS() != 128001 {
		t.Fatalf("llama3: vocab %d, BOS %d, EOS %d", tok.VocabSize(), tok.BOS(), tok.EOS())
	}
	checkVectors(t, tok, loadVectors(t, "ggml-vocab-llama-bpe.gguf"))
}

// hfJSONFromSPM writes a SentencePiece vocabulary as a Hugging Face
// tokenizer.json, as the transformers converter does for Llama: the vocab
// and byte-fallback BPE model, and for every piece each split into two
// pieces as a merge, ordered by the piece's score (higher first, stably),
// and within a piece by the ids of the halves.
func hfJSONFromSPM(tb testing.TB, tok *Tokenizer) []byte {
	tb.Helper()
	v := tok.Vocab()
	vocab := make(map[string]int, len(v.Pieces))
	for i, p := range v.Pieces {
		vocab[p] = i
	}
	type merge struct {
		l, r  string
		score float32
	}
	var merges []merge
	for id, p := range v.Pieces {
		if v.Types[id] != Normal {
			continue
		}
		var local []merge
		for i := 1; i < len(p); i++ {
			_, okL := vocab[p[:i]]
			_, okR := vocab[p[i:]]
			if okL && okR {
				local = append(local, merge{p[:i], p[i:], v.Scores[id]})
			}
		}
		slices.SortFunc(local, func(a, b merge) int {
			return cmp.Or(cmp.Compare(vocab[a.l], vocab[b.l]), cmp.Compare(vocab[a.r], vocab[b.r]))
		})
		merges = append(merges, local...)
	}
	slices.SortStableFunc(merges, func(a, b merge) int { return cmp.Compare(b.score, a.score) })
	ms := make([]string, len(merges))
	for i, m := range merges {
		ms[i] = m.l + " " + m.r
	}
	var added []map[string]any
	for _, id := range []int{v.UNK, v.BOS, v.EOS} {
		added = append(added, map[string]any{"id": id, "content": v.Pieces[id], "special": true})
	}
	doc := map[string]any{
		"added_tokens": added,
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>"}}, map[string]any{"Sequence": map[string]any{"id": "A"}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{v.BOS}}},
		},
		"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
			"vocab": vocab, "merges": ms},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// The Llama 2 vocabulary, written as tokenizer.json the way Hugging Face
// converts it, reproduces llama.cpp's llama-spm vectors.
func TestHFLlama2Vectors(t *testing.T) {
	spm := loadLlama2C(t, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	tok, err := ParseHF(HFFiles{Tokenizer: hfJSONFromSPM(t, spm)})
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 32000 || tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || !tok.AddBOS() || tok.bpe == nil {
		t.Fatalf("llama2: vocab %d, BOS %d, EOS %d, UNK %d, AddBOS %v", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.UNK(), tok.AddBOS())
	}
	checkVectors(t, tok, loadVectors(t, "ggml-vocab-llama-spm.gguf"))
	text := essayText(t, 20_000) + " 日本語 🙂  x\t\ty "
	if got, want := tok.Encode(text, true), spm.Encode(text, true); !equalInts(got, want) {
		t.Errorf("essays: tokenizer.json and tokenizer.bin disagree (%d vs %d tokens)", len(got), len(want))
	}
}

// The shared llama2-spm/tokenizer.json holds Mistral 7B's vocabulary (its
// "▁" is id 28705), not Llama 2's, so llama.cpp's vectors do not apply to
// it. It must load from its directory, round-trip the vector texts, and
// agree with the SentencePiece encoder given the same pieces, scored by
// merge rank.
func TestHFSharedMistralJSON(t *testing.T) {
	tok, err := Load(sharedPath(t, "tokenizers/llama2-spm"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 32000 || tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || !tok.AddBOS() ||
		!tok.AddSpacePrefix() || tok.Token(28705) != "▁" {
		t.Fatalf("vocab %d, BOS %d, EOS %d, UNK %d, AddBOS %v", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.UNK(), tok.AddBOS())
	}
	// A tokenizer.json path reads the files beside it too.
	byFile, err := Load(sharedPath(t, "tokenizers/llama2-spm/tokenizer.json"))
	if err != nil || byFile.BOS() != 1 || !byFile.AddBOS() {
		t.Fatalf("Load(tokenizer.json): %v", err)
	}
	v := tok.Vocab()
	v.Merges = nil
	spm := mustNew(t, v)
	texts := []string{essayText(t, 20_000)}
	for _, c := range loadVectors(t, "ggml-vocab-llama-spm.gguf") {
		texts = append(texts, c.text)
	}
	for _, s := range texts {
		ids := tok.Encode(s, true)
		if got := tok.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%.40q)) = %.40q", s, got)
		}
		if want := spm.Encode(s, true); !equalInts(ids, want) {
			t.Errorf("Encode(%.40q) = %v, SentencePiece encoder %v", s, ids, want)
		}
	}
}
