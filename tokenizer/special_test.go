package tokenizer

import (
	"slices"
	"testing"
)

func TestEncodeSpecialLlama3(t *testing.T) {
	tok := loadLlama3(t)
	text := "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
	var want []int
	want = append(want, 128000, 128006)
	want = append(want, tok.Encode("user", false)...)
	want = append(want, 128007)
	want = append(want, tok.Encode("\n\nHi there", false)...)
	want = append(want, 128009, 128006)
	want = append(want, tok.Encode("assistant", false)...)
	want = append(want, 128007)
	want = append(want, tok.Encode("\n\n", false)...)
	if got := tok.EncodeSpecial(text, false); !equalInts(got, want) {
		t.Errorf("EncodeSpecial = %v, want %v", got, want)
	}
	if got := tok.EncodeSpecial(text, true); got[0] != 128000 || got[1] != 128000 {
		t.Errorf("EncodeSpecial with BOS starts %v", got[:2])
	}
	plain := tok.Encode(text, false)
	if slices.ContainsFunc(plain, func(id int) bool { return id >= 128000 }) {
		t.Errorf("Encode matched special tokens: %v", plain)
	}
	if got := tok.Decode(plain); got != text {
		t.Errorf("Decode(Encode) = %q", got)
	}
	// Control tokens decode to nothing.
	if got, want := tok.Decode(tok.EncodeSpecial(text, true)), "user\n\nHi thereassistant\n\n"; got != want {
		t.Errorf("Decode(EncodeSpecial) = %q, want %q", got, want)
	}
	for id, want := range map[int]bool{128001: true, 128009: true, 128000: false, 128006: false, 13347: false, -1: false} {
		if tok.IsEOG(id) != want {
			t.Errorf("IsEOG(%d) = %v", id, !want)
		}
	}
	if eog := tok.EOG(); len(eog) == 0 || eog[0] != 128001 {
		t.Errorf("EOG() = %v", eog)
	}
}

func TestEncodeSpecialSPM(t *testing.T) {
	tok := loadGGUF(t, vocabDir+"ggml-vocab-llama-spm.gguf")
	// Each piece of text gets the dummy prefix, as in llama.cpp.
	want := []int{1}
	want = append(want, tok.Encode("Hello", false)...)
	want = append(want, 2, 1)
	want = append(want, tok.Encode(" world", false)...)
	want = append(want, 0)
	if got := tok.EncodeSpecial("<s>Hello</s><s> world<unk>", false); !equalInts(got, want) {
		t.Errorf("EncodeSpecial = %v, want %v", got, want)
	}
	if got := tok.Encode("<s>", false); slices.Contains(got, 1) {
		t.Errorf("Encode matched <s>: %v", got)
	}
	if !tok.IsEOG(2) || tok.IsEOG(1) || !tok.AddBOS() {
		t.Errorf("IsEOG(2) %v, IsEOG(1) %v, AddBOS %v", tok.IsEOG(2), tok.IsEOG(1), tok.AddBOS())
	}
}

func TestGGUFEOGAndAddBOS(t *testing.T) {
	m := fakeMeta{
		keyModel:  "gpt2",
		keyTokens: []string{"a", "b", "ab", "<|im_end|>", "<|x|>", "<|y|>"},
		keyMerges: []string{"a b"},
		keyPre:    "qwen2",
		keyEOS:    uint64(4),
		keyEOT:    uint64(5),
		keyEOM:    uint64(99), // out of range: ignored
	}
	tok, err := fromMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.EOG(); !equalInts(got, []int{4, 5}) {
		t.Errorf("EOG = %v", got)
	}
	if tok.BOS() != -1 || tok.UNK() != -1 || tok.AddBOS() {
		t.Errorf("BOS %d, UNK %d, AddBOS %v", tok.BOS(), tok.UNK(), tok.AddBOS())
	}
	// "<|im_end|>" ends generation by name once it is a special token.
	m[keyTokenType] = []int32{1, 1, 1, 3, 3, 3}
	m[keyAddBOS] = true
	if tok, err = fromMetadata(m); err != nil {
		t.Fatal(err)
	}
	if !tok.IsEOG(3) || !tok.AddBOS() || tok.Encode("ab", true)[0] != 2 {
		t.Errorf("IsEOG(3) %v, AddBOS %v, Encode %v", tok.IsEOG(3), tok.AddBOS(), tok.Encode("ab", true))
	}
	if got := tok.EncodeSpecial("ab<|im_end|>", false); !equalInts(got, []int{2, 3}) {
		t.Errorf("EncodeSpecial = %v", got)
	}
	v := tok.Vocab()
	if v.Model != "gpt2" || v.Pre != "qwen2" || !slices.Equal(v.Merges, []string{"a b"}) ||
		!equalInts(v.EOG, []int{5, 3}) || !v.AddBOS {
		t.Errorf("Vocab() = %+v", v)
	}
}
