package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// replaceInvalid turns each byte of s that is not part of a valid UTF-8
// character into U+FFFD, as utf8.DecodeRuneInString reads them.
func replaceInvalid(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
}

// streamAll feeds ids to a StreamDecoder and returns its chunks, Flush's
// last, and whether and after how many ids it stopped.
func streamAll(t testing.TB, tok *Tokenizer, ids []int, stops ...string) (chunks []string, stopped bool, at int) {
	d := tok.NewStreamDecoder(stops...)
	for i, id := range ids {
		s, stop := d.Add(id)
		chunks = append(chunks, s)
		if stop {
			return chunks, true, i + 1
		}
	}
	s, stop := d.Flush()
	return append(chunks, s), stop, len(ids)
}

// checkStream checks the StreamDecoder's contract on ids: valid UTF-8
// chunks adding up to Decode (invalid bytes replaced) up to the first stop
// string, which is reported.
func checkStream(t testing.TB, tok *Tokenizer, ids []int, stops ...string) []string {
	t.Helper()
	full := replaceInvalid(tok.Decode(ids))
	chunks, stopped, at := streamAll(t, tok, ids, stops...)
	for i, c := range chunks {
		if !utf8.ValidString(c) {
			t.Fatalf("ids %v: chunk %d %q is not valid UTF-8", ids, i, c)
		}
	}
	want, wantStop := full, false
	for _, s := range stops {
		if j := strings.Index(full, s); s != "" && j >= 0 && (!wantStop || j < len(want)) {
			want, wantStop = full[:j], true
		}
	}
	if got := strings.Join(chunks, ""); got != want || stopped != wantStop {
		t.Fatalf("ids %v, stops %q: chunks %q (stopped %v after %d ids), want %q (stopped %v)", ids, stops, chunks, stopped, at, want, wantStop)
	}
	return chunks
}

func TestStreamDecoderBytes(t *testing.T) {
	tok := loadLlama2C(t, "models/stories260K/tok512.bin", 512)
	// tok512 spells "世界🙂" in byte tokens: nothing may come out until a
	// character is whole.
	text := "Hi 世界🙂!"
	ids := tok.Encode(text, true)
	chunks := checkStream(t, tok, ids)
	var nonEmpty []string
	for _, c := range chunks {
		if c != "" {
			nonEmpty = append(nonEmpty, c)
		}
	}
	if strings.Join(nonEmpty, "|") == "" || len(ids) <= len(nonEmpty) {
		t.Fatalf("chunks %q", chunks)
	}
	for _, c := range nonEmpty {
		for _, r := range "世界🙂" {
			if strings.ContainsRune(c, r) && c != string(r) && !strings.HasSuffix(c, string(r)) && !strings.HasPrefix(c, string(r)) {
				t.Errorf("chunk %q splits around %q", c, r)
			}
		}
	}
	if tok.Decode(ids) != text {
		t.Fatalf("Decode = %q", tok.Decode(ids))
	}
	// A lone continuation byte and a truncated character: U+FFFD each.
	b := func(c byte) int { return 3 + int(c) } // tok512: <0xNN> is id 3+NN
	checkStream(t, tok, []int{b('a'), b(0x80), b(0xE4), b(0xB8), b('b'), b(0xE4)})
	chunks, _, _ = streamAll(t, tok, []int{b('a'), b(0x80), b(0xE4), b(0xB8), b('b'), b(0xE4)})
	if want := []string{"a", "\uFFFD", "", "", "\uFFFD\uFFFDb", "", "\uFFFD"}; strings.Join(chunks, "|") != strings.Join(want, "|") {
		t.Errorf("chunks %q, want %q", chunks, want)
	}
}

func TestStreamDecoderStops(t *testing.T) {
	tok := loadLlama3(t)
	text := "Hello! The answer is 42.\nUser: what? 世界"
	ids := tok.Encode(text, false)
	checkStream(t, tok, ids)
	checkStream(t, tok, ids, "\nUser:")
	checkStream(t, tok, ids, "User", "answer")
	checkStream(t, tok, ids, "界", "nothing")
	checkStream(t, tok, ids, "not there", "42.\nX")
	// The stop string's start is held back until it is known not to be one.
	d := tok.NewStreamDecoder("\nUser:")
	var got []string
	for _, id := range ids {
		s, stop := d.Add(id)
		got = append(got, s)
		if stop {
			break
		}
	}
	if j := strings.Join(got, ""); j != "Hello! The answer is 42." || d.Stop() != "\nUser:" {
		t.Errorf("chunks %q, stop %q", got, d.Stop())
	}
	for _, c := range got {
		if strings.Contains(c, "\n") {
			t.Errorf("chunk %q returns the stop string's start", c)
		}
	}
	if s, stop := d.Add(ids[0]); s != "" || !stop {
		t.Errorf("Add after a stop = %q, %v", s, stop)
	}
	// A held-back prefix that turns out not to be a stop comes out.
	d = tok.NewStreamDecoder("42!")
	var all string
	for _, id := range ids {
		s, _ := d.Add(id)
		all += s
	}
	s, stop := d.Flush()
	if all+s != text || stop {
		t.Errorf("with stop \"42!\": %q + %q, %v", all, s, stop)
	}
	d.Reset()
	for _, id := range tok.Encode("x42!", false) {
		d.Add(id)
	}
	if d.Stop() != "42!" {
		t.Errorf("after Reset: stop %q", d.Stop())
	}
}

// TestStreamDecoderContinue: a stream that continues a prompt keeps its
// first token's leading space, as Piece does after any token but BOS.
func TestStreamDecoderContinue(t *testing.T) {
	tok := loadLlama2C(t, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	prompt := tok.Encode("Once upon", true)
	ids := tok.Encode(" a time there was", false)
	d := tok.NewStreamDecoder()
	d.Continue()
	var got, want string
	prev := prompt[len(prompt)-1]
	for _, id := range ids {
		s, _ := d.Add(id)
		got += s
		want += tok.Piece(prev, id)
		prev = id
	}
	s, _ := d.Flush()
	if got+s != want || !strings.HasPrefix(want, " ") {
		t.Errorf("continued stream %q, pieces %q", got+s, want)
	}
}

// TestStreamDecoderSpacePrefix: with SentencePiece's dummy prefix, the
// stream drops the first token's leading space as Decode does.
func TestStreamDecoderSpacePrefix(t *testing.T) {
	tok := loadLlama2C(t, "tokenizers/llama2-spm/tokenizer.bin", 32000)
	for _, text := range []string{"Hello world", "  two spaces", "日本語 🙂 ok"} {
		ids := tok.Encode(text, true)
		chunks := checkStream(t, tok, ids)
		if got := strings.Join(chunks, ""); got != text {
			t.Errorf("stream of %q = %q", text, got)
		}
	}
}

// FuzzStreamDecode feeds token ids taken from the input (two bytes each)
// through a StreamDecoder on two vocabularies: tok512 (SentencePiece with
// byte fallback: characters split over byte tokens) and GPT-2 (byte-level
// BPE), with an optional stop string. Every chunk must be valid UTF-8, and
// the chunks with Flush's must add up to Decode of the ids (invalid bytes
// as U+FFFD) up to the first stop string, reported as a stop.
func FuzzStreamDecode(f *testing.F) {
	spm := loadLlama2C(f, "models/stories260K/tok512.bin", 512)
	bpe := loadGGUF(f, "tokenizers/llama-cpp-vocab/ggml-vocab-gpt-2.gguf")
	for _, s := range []string{"Once upon a time 世界🙂", "a\xe4\xb8b", "\xf0\x9f\x99\x82\x80"} {
		for _, tok := range []*Tokenizer{spm, bpe} {
			var data []byte
			for _, id := range tok.Encode(s, false) {
				data = append(data, byte(id), byte(id>>8))
			}
			f.Add(data, "time", uint16(0), false)
			f.Add(data, "", uint16(0x2003), true)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, stop string, cut uint16, useBPE bool) {
		tok := spm
		if useBPE {
			tok = bpe
		}
		if len(data) > 512 {
			data = data[:512]
		}
		ids := make([]int, len(data)/2)
		for i := range ids {
			ids[i] = (int(data[2*i]) | int(data[2*i+1])<<8) % tok.VocabSize()
		}
		if full := replaceInvalid(tok.Decode(ids)); cut != 0 && full != "" {
			// A piece of the text, 1 to 16 bytes at a character boundary.
			i := int(cut) % len(full)
			for !utf8.RuneStart(full[i]) {
				i--
			}
			j := min(i+int(cut>>12)+1, len(full))
			for j < len(full) && !utf8.RuneStart(full[j]) {
				j++
			}
			stop = full[i:j]
		}
		if !utf8.ValidString(stop) {
			stop = replaceInvalid(stop)
		}
		checkStream(t, tok, ids, stop)
	})
}
