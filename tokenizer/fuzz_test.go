package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceEncode is a direct O(n²) statement of the algorithm: merge the
// best-scoring adjacent pair (leftmost on ties) until none is a piece, then
// emit pieces, splitting Unused ones, and bytes for the rest.
func referenceEncode(t *Tokenizer, text string) []int {
	if text == "" {
		return nil
	}
	s := strings.ReplaceAll(text, " ", spaceSymbol)
	if t.addSpacePrefix {
		s = spaceSymbol + s
	}
	type sym struct {
		text  string
		parts []sym // the two symbols it was merged from
	}
	var syms []sym
	for i := 0; i < len(s); {
		n := min(utf8Len(s[i]), len(s)-i)
		syms = append(syms, sym{text: s[i : i+n]})
		i += n
	}
	for {
		best := -1
		var bestScore float32
		for i := 0; i+1 < len(syms); i++ {
			id, ok := t.merge[syms[i].text+syms[i+1].text]
			if ok && (best < 0 || t.scores[id] > bestScore) {
				best, bestScore = i, t.scores[id]
			}
		}
		if best < 0 {
			break
		}
		m := sym{text: syms[best].text + syms[best+1].text, parts: []sym{syms[best], syms[best+1]}}
		syms = append(append(syms[:best:best], m), syms[best+2:]...)
	}
	var out []int
	var emit func(sym)
	emit = func(x sym) {
		if id, ok := t.merge[x.text]; ok && t.types[id] != Unused {
			out = append(out, int(id))
			return
		}
		if x.parts != nil {
			emit(x.parts[0])
			emit(x.parts[1])
			return
		}
		for _, b := range []byte(x.text) {
			if t.byteIDs[b] >= 0 {
				out = append(out, int(t.byteIDs[b]))
			} else if t.unk >= 0 {
				out = append(out, t.unk)
			}
		}
	}
	for _, x := range syms {
		emit(x)
	}
	return out
}

// FuzzEncode checks, with the Llama 2 vocabulary (which has all 256 byte
// tokens):
//   - every input: Encode agrees with referenceEncode and gives valid ids;
//   - valid UTF-8 without a literal "▁" (U+2581, which encodes like a space):
//     Decode(Encode(s)) == s, with or without BOS, and the Piece stream after
//     BOS rebuilds s too. Leading spaces are fine: only the dummy prefix is
//     removed. Invalid UTF-8 is excluded because a space after a truncated
//     sequence is swallowed into one symbol and byte-encoded as "▁".
func FuzzEncode(f *testing.F) {
	tok := loadLlama2C(f, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	for _, s := range []string{"", " ", "Hello world", "  Hello\n\tworld ", "日本語 🙂", "<s> </s> <unk> <0x41>",
		"\x00\x7f", "333333", "\xff\xfe a", "é \xc3", "C'est l'été"} {
		f.Add(s)
	}
	// A vocabulary with pieces that span spaces, so Encode cannot work word
	// by word.
	cross, err := New(Vocab{
		Pieces: []string{"<unk>", "<s>", "</s>", "<0x20>", "▁", "a", "b", "é", "a▁", "a▁b", "▁a", "▁▁", "b▁", "<0xC3>"},
		Scores: []float32{0, 0, 0, 0, -1, -1, -1, -1, -2, -1, -3, -4, -2, 0},
		BOS:    1, EOS: 2, UNK: 0,
		AddSpacePrefix: true,
	})
	if err != nil {
		f.Fatal(err)
	}
	if cross.words {
		f.Fatal("cross-space vocabulary encodes word by word")
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, ref := cross.Encode(s, false), referenceEncode(cross, s); !equalInts(got, ref) {
			t.Fatalf("cross-space vocabulary: Encode(%q) = %v, reference %v", s, got, ref)
		}
		ids := tok.Encode(s, false)
		if ref := referenceEncode(tok, s); !equalInts(ids, ref) {
			t.Fatalf("Encode(%q) = %v, reference %v", s, ids, ref)
		}
		for _, id := range ids {
			if id <= 2 || id >= tok.VocabSize() {
				t.Fatalf("Encode(%q) gave id %d", s, id)
			}
		}
		if !utf8.ValidString(s) || strings.Contains(s, spaceSymbol) {
			return
		}
		if got := tok.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q (ids %v)", s, got, ids)
		}
		withBOS := tok.Encode(s, true)
		if got := tok.Decode(withBOS); got != s {
			t.Fatalf("Decode(Encode(%q, true)) = %q", s, got)
		}
		var sb strings.Builder
		for i := 1; i < len(withBOS); i++ {
			sb.WriteString(tok.Piece(withBOS[i-1], withBOS[i]))
		}
		if sb.String() != s {
			t.Fatalf("Piece stream of %q = %q", s, sb.String())
		}
	})
}
