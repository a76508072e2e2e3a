package tokenizer

import (
	"encoding/json"
	"strings"
	"testing"
)

// toyByteLevelJSON returns a byte-level tokenizer.json: the 256 byte
// pieces (id = byte value), "he", "ll", "hell", "hello", "Ġw", "xyz", with
// the merges that build them except "xyz", and the added tokens "<|end|>"
// (special, id 263) and "<mask>" (lstrip, id 264). edit may change the
// document before it is written.
func toyByteLevelJSON(tb testing.TB, edit func(doc map[string]any)) []byte {
	tb.Helper()
	vocab := map[string]int{}
	for b := range 256 {
		vocab[string(byteRune[b])] = b
	}
	for i, p := range []string{"he", "ll", "hell", "hello", "Ġw", "xyz"} {
		vocab[p] = 256 + i
	}
	doc := map[string]any{
		"added_tokens": []any{
			map[string]any{"id": 263, "content": "<|end|>", "special": true},
			map[string]any{"id": 264, "content": "<mask>", "lstrip": true},
		},
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false},
		"model": map[string]any{"type": "BPE", "vocab": vocab,
			"merges": []any{"h e", []string{"l", "l"}, "he ll", "hell o", "Ġ w"}},
	}
	if edit != nil {
		edit(doc)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func parseToy(t *testing.T, f HFFiles) *Tokenizer {
	t.Helper()
	tok, err := ParseHF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestHFByteLevelToy(t *testing.T) {
	tok := parseToy(t, HFFiles{Tokenizer: toyByteLevelJSON(t, nil)})
	for _, c := range []struct {
		text    string
		special bool
		want    []int
	}{
		{"hello", false, []int{259}},
		{"hello world", false, []int{259, 260, 'o', 'r', 'l', 'd'}},
		{"xyz", false, []int{'x', 'y', 'z'}},
		{"a<|end|>", false, []int{'a', '<', '|', 'e', 'n', 'd', '|', '>'}},
		{"a<|end|>", true, []int{'a', 263}},
		// <mask> swallows the spaces before it.
		{"a  <mask> b", true, []int{'a', 264, ' ', 'b'}},
	} {
		var got []int
		if c.special {
			got = tok.EncodeSpecial(c.text, false)
		} else {
			got = tok.Encode(c.text, false)
		}
		if !equalInts(got, c.want) {
			t.Errorf("Encode(%q, special %v) = %v, want %v", c.text, c.special, got, c.want)
		}
	}
	if tok.BOS() != -1 || tok.EOS() != -1 || tok.AddBOS() || !tok.IsEOG(263) {
		t.Errorf("BOS %d, EOS %d, AddBOS %v, IsEOG(263) %v", tok.BOS(), tok.EOS(), tok.AddBOS(), tok.IsEOG(263))
	}
	if got := tok.Decode([]int{259, 263, 264, 260}); got != "hello<mask> w" {
		t.Errorf("Decode = %q", got)
	}
	// A word that is a whole token skips merging with ignore_merges.
	tok = parseToy(t, HFFiles{Tokenizer: toyByteLevelJSON(t, func(doc map[string]any) {
		doc["model"].(map[string]any)["ignore_merges"] = true
	})})
	if got := tok.Encode("xyz", false); !equalInts(got, []int{261}) {
		t.Errorf("ignore_merges: Encode(xyz) = %v", got)
	}
}

func TestHFPreTokenizers(t *testing.T) {
	seq := func(pre ...any) func(map[string]any) {
		return func(doc map[string]any) {
			doc["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": pre}
		}
	}
	split := func(kind, pattern, behavior string) map[string]any {
		return map[string]any{"type": "Split", "pattern": map[string]any{kind: pattern}, "behavior": behavior}
	}
	byteLevel := map[string]any{"type": "ByteLevel", "use_regex": false}
	for _, c := range []struct {
		name string
		edit func(map[string]any)
		text string
		want []int
	}{
		// Without splitting, "o w" merges across the space... except that
		// no merge makes "oĠ": "hello" and "Ġw" still form.
		{"no regex", seq(byteLevel), "hello world", []int{259, 260, 'o', 'r', 'l', 'd'}},
		{"removed", seq(split("String", ",", "Removed"), byteLevel), "he,llo", []int{256, 257, 'o'}},
		{"isolated regex", seq(split("Regex", `l+`, "Isolated"), byteLevel), "hello", []int{256, 257, 'o'}},
		{"prefix space", func(doc map[string]any) {
			doc["pre_tokenizer"] = map[string]any{"type": "ByteLevel", "add_prefix_space": true}
		}, "w", []int{260}},
	} {
		tok := parseToy(t, HFFiles{Tokenizer: toyByteLevelJSON(t, c.edit)})
		if got := tok.Encode(c.text, false); !equalInts(got, c.want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", c.name, c.text, got, c.want)
		}
	}
}

// toyMetaspaceJSON returns a character-level tokenizer.json with a
// Metaspace pre-tokenizer.
func toyMetaspaceJSON(tb testing.TB, scheme string, split bool) []byte {
	tb.Helper()
	doc := map[string]any{
		"added_tokens": []any{
			map[string]any{"id": 0, "content": "<unk>", "special": true},
			map[string]any{"id": 1, "content": "<s>", "special": true},
		},
		"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split},
		"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
			"vocab":  map[string]int{"<unk>": 0, "<s>": 1, "<0x41>": 2, "▁": 3, "a": 4, "b": 5, "▁a": 6, "▁▁": 7, "▁b": 8},
			"merges": []string{"▁ ▁", "▁ a", "▁ b"}},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestHFMetaspace(t *testing.T) {
	for _, c := range []struct {
		scheme  string
		split   bool
		text    string
		special bool
		want    []int
	}{
		{"always", true, "a  b", false, []int{6, 3, 8}},
		{"always", false, "a  b", false, []int{6, 7, 5}},
		{"always", false, " a", false, []int{6}}, // no prefix before a leading "▁"
		{"never", false, "a", false, []int{4}},
		{"first", false, "<s>a<s>a", true, []int{1, 4, 1, 4}},
		{"always", false, "<s>a<s>a", true, []int{1, 6, 1, 6}},
		{"first", false, "aAx", false, []int{6, 2, 0}},
	} {
		tok := parseToy(t, HFFiles{Tokenizer: toyMetaspaceJSON(t, c.scheme, c.split)})
		got := tok.Encode(c.text, false)
		if c.special {
			got = tok.EncodeSpecial(c.text, false)
		}
		if !equalInts(got, c.want) {
			t.Errorf("%s split %v: Encode(%q) = %v, want %v", c.scheme, c.split, c.text, got, c.want)
		}
	}
	tok := parseToy(t, HFFiles{Tokenizer: toyMetaspaceJSON(t, "always", false)})
	if got := tok.Decode([]int{1, 6, 7, 8, 2}); got != "a   bA" {
		t.Errorf("Decode = %q", got)
	}
}

func TestHFConfigs(t *testing.T) {
	tok := parseToy(t, HFFiles{
		Tokenizer:        toyByteLevelJSON(t, nil),
		TokenizerConfig:  []byte(`{"bos_token": {"content": "hello"}, "eos_token": "<|end|>", "add_bos_token": true}`),
		GenerationConfig: []byte(`{"eos_token_id": [263, 262], "bos_token_id": 1}`),
		Config:           []byte(`{"eos_token_id": 258, "bos_token_id": null}`),
	})
	if tok.BOS() != 259 || tok.EOS() != 263 || !tok.AddBOS() || !equalInts(tok.EOG(), []int{263, 262, 258}) {
		t.Errorf("BOS %d, EOS %d, AddBOS %v, EOG %v", tok.BOS(), tok.EOS(), tok.AddBOS(), tok.EOG())
	}
	tok = parseToy(t, HFFiles{Tokenizer: toyByteLevelJSON(t, nil), GenerationConfig: []byte(`{"eos_token_id": 262, "bos_token_id": 1}`)})
	if tok.BOS() != 1 || tok.EOS() != 262 || tok.AddBOS() {
		t.Errorf("generation config: BOS %d, EOS %d, AddBOS %v", tok.BOS(), tok.EOS(), tok.AddBOS())
	}
	if _, err := ParseHF(HFFiles{Tokenizer: toyByteLevelJSON(t, nil), Config: []byte(`{`)}); err == nil ||
		!strings.Contains(err.Error(), "config.json") {
		t.Errorf("bad config.json: err = %v", err)
	}
}

func TestHFErrors(t *testing.T) {
	model := func(k string, v any) func(map[string]any) {
		return func(doc map[string]any) { doc["model"].(map[string]any)[k] = v }
	}
	top := func(k string, v any) func(map[string]any) {
		return func(doc map[string]any) { doc[k] = v }
	}
	for _, c := range []struct {
		edit func(map[string]any)
		want string
	}{
		{model("type", "Unigram"), `unsupported model type "Unigram"`},
		{model("continuing_subword_prefix", "##"), "subword affix"},
		{model("merges", []any{"a"}), "not two pieces"},
		{model("merges", []any{[]string{"a b", "c"}}), "left piece has a space"},
		{model("merges", []any{7}), "cannot unmarshal"},
		{model("vocab", map[string]int{"a": -1}), "has id -1"},
		{model("vocab", map[string]int{"a": 1 << 30}), "has id"},
		{model("vocab", map[string]int{"a": 0, "b": 1 << 20}), "token ids up to"},
		{func(doc map[string]any) {
			doc["model"].(map[string]any)["vocab"] = map[string]int{}
			doc["added_tokens"] = []any{}
		}, "empty vocabulary"},
		{model("unk_token", "<nope>"), "unk_token"},
		{top("normalizer", map[string]any{"type": "NFKC"}), `unsupported normalizer "NFKC"`},
		{top("normalizer", map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": " "}}), "Replace"},
		{top("pre_tokenizer", map[string]any{"type": "Whitespace"}), `unsupported pre-tokenizer "Whitespace"`},
		{top("pre_tokenizer", map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "a"}, "behavior": "Isolated", "invert": true}), "invert"},
		{top("pre_tokenizer", map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(a"}, "behavior": "Isolated"}), "pattern"},
		{top("pre_tokenizer", map[string]any{"type": "Metaspace", "replacement": "_"}), "replacement"},
		{top("added_tokens", []any{map[string]any{"id": 3, "content": ""}}), "added token"},
	} {
		_, err := ParseHF(HFFiles{Tokenizer: toyByteLevelJSON(t, c.edit)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error with %q, got %v", c.want, err)
		}
	}
	if _, err := ParseHF(HFFiles{Tokenizer: []byte("{")}); err == nil {
		t.Error("truncated JSON: no error")
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("empty directory: err = %v", err)
	}
}
