package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// golden is the part of golden/stories260K/golden.json these tests use.
type golden struct {
	Prompt string `json:"prompt"`
	Input  []int  `json:"input_token_per_position"`
	Argmax []int  `json:"argmax_next_token_per_position"`
	Stdout string `json:"stdout_file"`
}

func loadGolden(t *testing.T) map[string]golden {
	t.Helper()
	data, err := os.ReadFile(sharedPath(t, "golden/stories260K/golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	g := make(map[string]golden)
	for k, v := range raw {
		if strings.HasPrefix(k, "_") { // notes about the files
			continue
		}
		var c golden
		if err := json.Unmarshal(v, &c); err != nil {
			t.Fatalf("golden.json %s: %v", k, err)
		}
		g[k] = c
	}
	if len(g) == 0 {
		t.Fatal("golden.json has no cases")
	}
	return g
}

func TestTok512OnceUponATime(t *testing.T) {
	tok := loadLlama2C(t, "models/stories260K/tok512.bin", 512)
	if tok.VocabSize() != 512 || tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 {
		t.Fatalf("vocab %d bos %d eos %d unk %d", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.UNK())
	}
	want := []int{1, 403, 407, 261, 378}
	got := tok.Encode("Once upon a time", true)
	if !equalInts(got, want) {
		t.Fatalf("Encode = %v, want %v", got, want)
	}
	g := loadGolden(t)["once_upon_a_time"]
	if g.Prompt != "Once upon a time" || !equalInts(g.Input[:len(want)], want) {
		t.Fatalf("golden prompt %q starts %v", g.Prompt, g.Input[:len(want)])
	}
	if got := tok.Encode("", true); !equalInts(got, []int{1}) {
		t.Errorf("Encode(\"\", true) = %v, want [1]", got)
	}
}

// safePrintf mimics llama2.c's safe_printf: it drops a piece that is a single
// byte neither printable nor whitespace.
func safePrintf(sb *strings.Builder, piece string) {
	if piece == "" {
		return
	}
	if len(piece) == 1 {
		c := piece[0]
		printable := c >= 0x20 && c < 0x7f
		space := c == ' ' || (c >= '\t' && c <= '\r')
		if !printable && !space {
			return
		}
	}
	sb.WriteString(piece)
}

// The golden greedy runs, printed by llama2.c's run.c, must be rebuilt by
// Piece (as run.c streams them) and by Decode.
func TestTok512GreedyText(t *testing.T) {
	tok := loadLlama2C(t, "models/stories260K/tok512.bin", 512)
	for name, g := range loadGolden(t) {
		want, err := os.ReadFile(sharedPath(t, "golden/stories260K/"+g.Stdout))
		if err != nil {
			t.Fatal(err)
		}
		// run.c feeds input[pos] and prints the piece of the next token.
		seq := append(append([]int(nil), g.Input...), g.Argmax[len(g.Argmax)-1])
		var sb strings.Builder
		for i := 1; i < len(seq); i++ {
			safePrintf(&sb, tok.Piece(seq[i-1], seq[i]))
		}
		sb.WriteString("\n") // run.c ends with printf("\n")
		if got := sb.String(); got != string(want) {
			t.Errorf("%s: Piece stream:\n%q\nwant\n%q", name, got, want)
		}
		if got := tok.Decode(seq) + "\n"; got != string(want) {
			t.Errorf("%s: Decode:\n%q\nwant\n%q", name, got, want)
		}
		if g.Prompt != "" {
			p := tok.Encode(g.Prompt, true)
			if !equalInts(p, seq[:len(p)]) {
				t.Errorf("%s: prompt tokens %v, golden %v", name, p, seq[:len(p)])
			}
		}
	}
}

// llama2cFile builds a llama2.c tokenizer file.
func llama2cFile(pieces []string, scores []float32) []byte {
	maxLen := 0
	for _, p := range pieces {
		maxLen = max(maxLen, len(p))
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(maxLen))
	for i, p := range pieces {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(scores[i]))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// smallLlama2C is a tiny valid llama2.c vocabulary with two byte tokens.
func smallLlama2C() []byte {
	pieces := []string{"<unk>", "\n<s>\n", "\n</s>\n", "<0x0A>", "<0xC3>", " a", "b", "a", " ", " ab"}
	scores := []float32{0, 0, 0, 0, 0, -1, -2, -3, -4, -0.5}
	return llama2cFile(pieces, scores)
}

func TestParseLlama2CSmall(t *testing.T) {
	tok, err := ParseLlama2C(smallLlama2C(), 10)
	if err != nil {
		t.Fatal(err)
	}
	v := tok.Vocab()
	wantPieces := []string{"<unk>", "<s>", "</s>", "<0x0A>", "<0xC3>", "▁a", "b", "a", "▁", "▁ab"}
	wantTypes := []TokenType{Unknown, Control, Control, Byte, Byte, Normal, Normal, Normal, Normal, Normal}
	for i := range wantPieces {
		if v.Pieces[i] != wantPieces[i] || v.Types[i] != wantTypes[i] {
			t.Errorf("token %d = %q %v, want %q %v", i, v.Pieces[i], v.Types[i], wantPieces[i], wantTypes[i])
		}
	}
	if !v.AddSpacePrefix || v.BOS != 1 || v.EOS != 2 || v.UNK != 0 {
		t.Errorf("vocab header %+v", v)
	}
	// "ab\nb é": "▁ab" merges first; '\n' and the first byte of 'é' have byte
	// tokens, its second byte falls back to UNK.
	got := tok.Encode("ab\nb é", true)
	want := []int{1, 9, 3, 6, 8, 4, 0}
	if !equalInts(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if got, err := ParseLlama2C(smallLlama2C(), 0); err != nil || got.VocabSize() != 10 {
		t.Errorf("vocabSize 0: %v, %v", got, err)
	}
}

// Every truncation and corruption of a valid file must give an error, not
// a panic.
func TestParseLlama2CHostile(t *testing.T) {
	good := smallLlama2C()
	for n := 0; n < len(good); n++ {
		if _, err := ParseLlama2C(good[:n], 10); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := ParseLlama2C(append(good, 0), 10); err == nil {
		t.Error("trailing byte: no error")
	}
	if _, err := ParseLlama2C(good, 11); err == nil {
		t.Error("vocabSize too large: no error")
	}
	if _, err := ParseLlama2C(good, 1<<40); err == nil {
		t.Error("huge vocabSize: no error")
	}
	lenOff := 4 + 4 // first token's length field
	for _, n := range []uint32{0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, uint32(len(good))} {
		bad := append([]byte(nil), good...)
		binary.LittleEndian.PutUint32(bad[lenOff:], n)
		if _, err := ParseLlama2C(bad, 10); err == nil {
			t.Errorf("length %#x: no error", n)
		}
	}
	bad := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(bad, 0xFFFFFFFF)
	if _, err := ParseLlama2C(bad, 10); err == nil {
		t.Error("negative max_token_length: no error")
	}
	bad = append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(bad[4:], math.Float32bits(float32(math.NaN())))
	if _, err := ParseLlama2C(bad, 10); err == nil {
		t.Error("NaN score: no error")
	}
	if _, err := LoadLlama2C("/nonexistent/tokenizer.bin", 10); err == nil {
		t.Error("missing file: no error")
	}
}

// TestParseLlama2CTruncatedReadToEnd cuts tok512.bin at every byte and
// parses it with vocabSize 0 ("read to the end", as `thinkv tokenize -t`
// does), where a cut between two tokens used to load a smaller vocabulary
// that encoded everything as <unk>. A cut inside a token is always an error;
// a cut between tokens is one while the longest token (id 374, the first of
// max_token_length bytes) is lost, which is all the file itself can tell.
// With the vocabulary size given, every cut is an error.
func TestParseLlama2CTruncatedReadToEnd(t *testing.T) {
	data, err := os.ReadFile(sharedPath(t, "models/stories260K/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	boundary := map[int]int{} // offset → tokens before it
	for off, i := 4, 0; off < len(data); i++ {
		off += 8 + int(binary.LittleEndian.Uint32(data[off+4:]))
		boundary[off] = i + 1
	}
	for n := range len(data) {
		_, err := ParseLlama2C(data[:n], 0)
		tokens, between := boundary[n]
		if want := !between || tokens <= 374; want != (err != nil) {
			t.Errorf("cut at %d bytes (between tokens: %v, %d tokens): error %v", n, between, tokens, err)
		}
		if err == nil {
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "truncated") && !strings.Contains(msg, "bytes left") && !strings.Contains(msg, "no header") {
			t.Errorf("cut at %d bytes: error %q does not say the file is truncated", n, err)
		}
		if _, err := ParseLlama2C(data[:n], 512); err == nil {
			t.Errorf("cut at %d bytes, vocabSize 512: no error", n)
		}
	}
	// The report's case: 100 bytes hold exactly 7 tokens.
	if _, err := ParseLlama2C(data[:100], 0); err == nil || !strings.Contains(err.Error(), "longest token (of 7) is 6 bytes, its header says 7") {
		t.Errorf("first 100 bytes: got %v", err)
	}
	// A token longer than the header allows is corrupt.
	bad := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(bad, 6)
	if _, err := ParseLlama2C(bad, 0); err == nil || !strings.Contains(err.Error(), "longer than the header's max_token_length 6") {
		t.Errorf("max_token_length 6: got %v", err)
	}
}

func FuzzParseLlama2C(f *testing.F) {
	f.Add(smallLlama2C(), 10)
	f.Add(smallLlama2C(), 0)
	f.Add(llama2cFile([]string{"a", "b", "ab"}, []float32{0, 0, 1}), 3)
	f.Fuzz(func(t *testing.T, data []byte, vocabSize int) {
		tok, err := ParseLlama2C(data, vocabSize)
		if err != nil {
			return
		}
		// A successfully parsed tokenizer must also survive use.
		for _, s := range []string{"", "a", "ab ba", "\xff\x00é", string(data[:min(len(data), 64)])} {
			ids := tok.Encode(s, true)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q) gave id %d of %d", s, id, tok.VocabSize())
				}
			}
			tok.Decode(ids)
			for i := range ids {
				tok.Piece(tok.BOS(), ids[i])
			}
		}
	})
}
