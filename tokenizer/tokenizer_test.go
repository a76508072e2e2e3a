package tokenizer

import (
	"strings"
	"testing"
)

// toyVocab is a small vocabulary for unit tests.
func toyVocab() Vocab {
	return Vocab{
		Pieces: []string{"<unk>", "<s>", "</s>", "<0x0A>", "<0x3E>", "▁", "a", "b", "c", "▁a", "ab", "bc", "<s", "abc", "s", "<"},
		Scores: []float32{0, 0, 0, 0, 0, -1, -2, -2, -2, -1, -3, -3, -1, 5, -2, -2},
		Types: []TokenType{Unknown, Control, Control, Byte, Byte, Normal, Normal, Normal, Normal, Normal,
			Normal, Normal, Normal, Unused, Normal, Normal},
		BOS: 1, EOS: 2, UNK: 0,
		AddSpacePrefix: true,
	}
}

func mustNew(t *testing.T, v Vocab) *Tokenizer {
	t.Helper()
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEncodeToy(t *testing.T) {
	tok := mustNew(t, toyVocab())
	for _, c := range []struct {
		text string
		bos  bool
		want []int
	}{
		{"", false, nil},
		{"", true, []int{1}},
		{"a", true, []int{1, 9}},
		{" ", false, []int{5, 5}},
		// "▁a" outscores "ab", so "bc" is left.
		{"abc", false, []int{9, 11}},
		// Equal scores: the leftmost pair ("ab", not "bc") merges first; then
		// the Unused "abc" wins and is split back into "ab"+"c" (had "bc"
		// merged first, it would split into "a"+"bc").
		{"xabc", false, []int{5, 0, 10, 8}},
		{"bcb", false, []int{5, 11, 7}},
		// Control text is plain text: "<s" merges, ">" falls back to a byte.
		{"<s>", false, []int{5, 12, 4}},
		// Bytes without a byte token become UNK: 'é' is two bytes.
		{"é\n", false, []int{5, 0, 0, 3}},
	} {
		got := tok.Encode(c.text, c.bos)
		if !equalInts(got, c.want) {
			t.Errorf("Encode(%q, %v) = %v, want %v", c.text, c.bos, got, c.want)
		}
	}
}

func TestDecodeToy(t *testing.T) {
	tok := mustNew(t, toyVocab())
	for _, c := range []struct {
		ids  []int
		want string
	}{
		{nil, ""},
		{[]int{1, 9, 2}, "a"},
		{[]int{9, 9}, "a a"},
		{[]int{5, 9}, " a"},         // only the first token loses its space
		{[]int{1, 5, 5, 9}, "  a"},  // BOS does not consume the strip
		{[]int{3, 9}, "\n a"},       // a leading byte token is kept as is
		{[]int{0, 4}, "<unk>>"},     // unknown shows its piece
		{[]int{13, -1, 99, 6}, "a"}, // unused and out-of-range ids vanish
	} {
		if got := tok.Decode(c.ids); got != c.want {
			t.Errorf("Decode(%v) = %q, want %q", c.ids, got, c.want)
		}
	}
	v := toyVocab()
	v.AddSpacePrefix = false
	tok = mustNew(t, v)
	if got := tok.Decode([]int{9, 9}); got != " a a" {
		t.Errorf("without prefix: Decode = %q", got)
	}
	if got := tok.Encode("a", false); !equalInts(got, []int{6}) {
		t.Errorf("without prefix: Encode = %v", got)
	}
}

func TestPieceToy(t *testing.T) {
	tok := mustNew(t, toyVocab())
	for _, c := range []struct {
		prev, id int
		want     string
	}{
		{1, 9, "a"},
		{6, 9, " a"},
		{1, 5, ""},
		{1, 3, "\n"},
		{-1, 9, " a"},
		{9, 1, ""},
		{9, 2, ""},
		{9, 100, ""},
		{9, 0, "<unk>"},
	} {
		if got := tok.Piece(c.prev, c.id); got != c.want {
			t.Errorf("Piece(%d, %d) = %q, want %q", c.prev, c.id, got, c.want)
		}
	}
}

func TestNewInfersTypes(t *testing.T) {
	v := Vocab{
		Pieces: []string{"<unk>", "<s>", "</s>", "<0x41>", "<0x4g>", "▁x", "<0x0a>"},
		BOS:    1, EOS: 2, UNK: 0,
	}
	tok := mustNew(t, v)
	want := []TokenType{Unknown, Control, Control, Byte, Normal, Normal, Normal}
	got := tok.Vocab()
	for i, w := range want {
		if got.Types[i] != w {
			t.Errorf("type of %q = %v, want %v", v.Pieces[i], got.Types[i], w)
		}
		if got.Scores[i] != 0 {
			t.Errorf("score %d = %v, want 0", i, got.Scores[i])
		}
	}
	// 'A' comes from its byte token.
	if ids := tok.Encode("A", false); !equalInts(ids, []int{3}) {
		t.Errorf("Encode(A) = %v", ids)
	}
	// Vocab returns a copy.
	got.Pieces[5] = "changed"
	if tok.Token(5) != "▁x" {
		t.Error("Vocab shares its slices with the tokenizer")
	}
}

func TestNewErrors(t *testing.T) {
	good := toyVocab()
	for name, edit := range map[string]func(v *Vocab){
		"empty":       func(v *Vocab) { v.Pieces = nil },
		"scores":      func(v *Vocab) { v.Scores = v.Scores[:3] },
		"types":       func(v *Vocab) { v.Types = v.Types[:3] },
		"bos":         func(v *Vocab) { v.BOS = len(v.Pieces) },
		"eos":         func(v *Vocab) { v.EOS = -2 },
		"unk":         func(v *Vocab) { v.UNK = 1000 },
		"nan score":   func(v *Vocab) { v.Scores[6] = float32(nan()) },
		"types slice": func(v *Vocab) { v.Types = []TokenType{} },
	} {
		v := good
		v.Pieces = append([]string(nil), good.Pieces...)
		v.Scores = append([]float32(nil), good.Scores...)
		v.Types = append([]TokenType(nil), good.Types...)
		edit(&v)
		if _, err := New(v); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

// A long input exercises the queue; the result must match the naive
// reference.
func TestEncodeLongMatchesReference(t *testing.T) {
	tok := loadLlama2C(t, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. Ünïcödé 日本語 🙂\n\t  ", 50)
	got := tok.Encode(text, false)
	want := referenceEncode(tok, text)
	if !equalInts(got, want) {
		t.Fatalf("Encode differs from the reference (%d vs %d tokens)", len(got), len(want))
	}
	if dec := tok.Decode(got); dec != text {
		t.Fatal("round trip failed")
	}
}

func TestEncodeConcurrent(t *testing.T) {
	tok := loadLlama2C(t, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	texts := []string{"Hello world", strings.Repeat("The cat sat on the mat. ", 40), "日本語 🙂", ""}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s, true)
	}
	done := make(chan bool)
	for g := 0; g < 8; g++ {
		go func() {
			ok := true
			for k := 0; k < 50; k++ {
				i := (g + k) % len(texts)
				ok = ok && equalInts(tok.Encode(texts[i], true), want[i])
			}
			done <- ok
		}()
	}
	for g := 0; g < 8; g++ {
		if !<-done {
			t.Error("concurrent Encode gave a different result")
		}
	}
}

func TestByteFallbackByText(t *testing.T) {
	// "<0x41>" typed Normal still serves as the fallback for 'A'; 'B' is
	// only an Unused piece and 'C' has none, so both become UNK.
	tok := mustNew(t, Vocab{
		Pieces: []string{"<unk>", "<0x41>", "B"},
		Types:  []TokenType{Unknown, Normal, Unused},
		BOS:    -1, EOS: -1, UNK: 0,
	})
	if got := tok.Encode("ABC", false); !equalInts(got, []int{1, 0, 0}) {
		t.Errorf("Encode = %v", got)
	}
}
