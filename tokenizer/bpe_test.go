package tokenizer

import (
	"strings"
	"testing"
	"time"
)

// Long words (no spaces) must not take quadratic time: they are merged with
// a priority queue.
func TestEncodeLongWords(t *testing.T) {
	tok := loadLlama3(t)
	for _, s := range []string{strings.Repeat("a", 200_000), strings.Repeat("日本語", 30_000), strings.Repeat("1", 100_000)} {
		start := time.Now()
		ids := tok.Encode(s, false)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Encode of %d bytes took %v", len(s), d)
		}
		if tok.Decode(ids) != s {
			t.Errorf("round trip of %.20q... failed", s)
		}
	}
}

// A split pattern that backtracks catastrophically is cut off after
// regexTimeout, leaving the rest of the text as one pre-token.
func TestHostileSplitPattern(t *testing.T) {
	data := toyByteLevelJSON(t, func(doc map[string]any) {
		doc["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `(a+)+$`}, "behavior": "Isolated"},
			map[string]any{"type": "ByteLevel", "use_regex": false}}}
	})
	tok, err := ParseHF(HFFiles{Tokenizer: data})
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Repeat("a", 40) + "!"
	start := time.Now()
	ids := tok.Encode(s, false)
	if d := time.Since(start); d > 3*regexTimeout {
		t.Errorf("Encode took %v", d)
	}
	if tok.Decode(ids) != s {
		t.Errorf("Decode(Encode(%q)) = %q", s, tok.Decode(ids))
	}
}

// Encoding from many goroutines at once gives the same ids (run with -race).
func TestEncodeSpecialConcurrent(t *testing.T) {
	tok := loadLlama3(t)
	text := essayText(t, 20_000) + "<|eot_id|>"
	want := tok.EncodeSpecial(text, true)
	errs := make(chan string, 8)
	for range cap(errs) {
		go func() {
			if got := tok.EncodeSpecial(text, true); !equalInts(got, want) {
				errs <- "mismatch"
				return
			}
			errs <- ""
		}()
	}
	for range cap(errs) {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
