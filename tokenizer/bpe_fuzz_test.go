package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTokenizerJSON feeds hostile tokenizer.json and configuration files to
// ParseHF: it must never panic, and a tokenizer it accepts must encode and
// decode any text to in-range ids without panicking, and survive the round
// trip through Vocab and New.
func FuzzTokenizerJSON(f *testing.F) {
	seeds := [][]byte{
		toyByteLevelJSON(f, nil),
		toyMetaspaceJSON(f, "first", true),
		toyMetaspaceJSON(f, "always", false),
		toyByteLevelJSON(f, func(doc map[string]any) {
			doc["normalizer"] = map[string]any{"type": "Sequence", "normalizers": []any{
				map[string]any{"type": "Prepend", "prepend": "▁"},
				map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}}
			doc["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": qwen2Pattern}, "behavior": "Isolated"},
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\d+|(?=x)`}, "behavior": "Removed"},
				map[string]any{"type": "ByteLevel", "use_regex": false}}}
			doc["post_processor"] = map[string]any{"type": "TemplateProcessing",
				"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<|end|>"}}}}
			doc["model"].(map[string]any)["ignore_merges"] = true
		}),
		[]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]],"unk_token":"a"}}`),
		[]byte(`{"eos_token_id":[1,2],"bos_token":{"content":"a"}}`),
		[]byte(`{"model":{"type":"BPE","vocab":{"a":5},"merges":["a a"]},"added_tokens":[{"id":9,"content":"a"}]}`),
	}
	for _, s := range seeds {
		f.Add(s, "hello world <|end|> <mask> a  b")
	}
	base := seeds[0]
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		check := func(tok *Tokenizer) {
			n := tok.VocabSize()
			for _, ids := range [][]int{tok.Encode(text, true), tok.EncodeSpecial(text, true)} {
				if slices.ContainsFunc(ids, func(id int) bool { return id < 0 || id >= n }) {
					t.Fatalf("Encode(%q) = %v, vocabulary of %d", text, ids, n)
				}
				tok.Decode(ids)
				for i := 1; i < len(ids); i++ {
					tok.Piece(ids[i-1], ids[i])
				}
			}
			again, err := New(tok.Vocab())
			if err != nil {
				t.Fatalf("New(Vocab()): %v", err)
			}
			again.Encode(text, false)
		}
		if tok, err := ParseHF(HFFiles{Tokenizer: data}); err == nil {
			check(tok)
		}
		if tok, err := ParseHF(HFFiles{Tokenizer: base, TokenizerConfig: data, GenerationConfig: data, Config: data}); err == nil {
			check(tok)
		}
	})
}

// referenceBPE encodes text with a byte-level tokenizer the slow way:
// pre-tokens from the regular expression run by regexp2, then in each the
// adjacent pair of lowest merge rank merges, leftmost first, until none
// has a merge.
func referenceBPE(tok *Tokenizer, re splitter, text string) []int {
	m := tok.bpe
	var out []int
	preTokenize(text, []splitStep{{splitter: re}}, func(w string) {
		if id, ok := m.whole[w]; ok && m.ignoreMerges {
			out = append(out, int(id))
			return
		}
		var syms []int32
		for i := 0; i < len(w); i++ {
			syms = append(syms, m.byteSym[w[i]])
		}
		for {
			best, bm := -1, bpeMerge{}
			for i := 0; i+1 < len(syms); i++ {
				if mg, ok := m.merges[pairKey(syms[i], syms[i+1])]; ok && (best < 0 || mg.rank < bm.rank) {
					best, bm = i, mg
				}
			}
			if best < 0 {
				break
			}
			syms = slices.Replace(syms, best, best+2, bm.id)
		}
		for _, s := range syms {
			out = append(out, int(s))
		}
	})
	return out
}

// FuzzByteLevel checks the GPT-2 and Llama 3 vocabularies: any bytes
// round-trip through Encode and Decode, and through the Piece stream; for
// valid UTF-8, Encode agrees with referenceBPE.
func FuzzByteLevel(f *testing.F) {
	for _, s := range []string{"", " ", "Hello world", "  Hello\n\n\tworld  ", "日本語 🙂 I'm 12345", "<|endoftext|> <|eot_id|>",
		"\xff\xfe a\xc3", "é\u0301 \u00a0\u3000x", "'S 'll 'LL ’s", strings.Repeat("ab ", 200)} {
		f.Add(s)
	}
	toks := []*Tokenizer{loadGGUF(f, vocabDir+"ggml-vocab-gpt-2.gguf"), loadLlama3(f)}
	res := []splitter{oracle(f, gpt2Pattern), oracle(f, llama3Pattern)}
	f.Fuzz(func(t *testing.T, s string) {
		for i, tok := range toks {
			ids := tok.Encode(s, true)
			if got := tok.Decode(ids); got != s {
				t.Fatalf("vocab %d: Decode(Encode(%q)) = %q (ids %v)", i, s, got, ids)
			}
			var sb strings.Builder
			for j := 1; j < len(ids); j++ {
				sb.WriteString(tok.Piece(ids[j-1], ids[j]))
			}
			if sb.String() != s {
				t.Fatalf("vocab %d: Piece stream of %q = %q", i, s, sb.String())
			}
			if !utf8.ValidString(s) {
				continue
			}
			if ref := referenceBPE(tok, res[i], s); !equalInts(ids[1:], ref) {
				t.Fatalf("vocab %d: Encode(%q) = %v, reference %v", i, s, ids[1:], ref)
			}
		}
	})
}
