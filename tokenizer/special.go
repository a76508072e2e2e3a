package tokenizer

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// specialMatcher finds special and added tokens in text.
type specialMatcher struct {
	// first holds the ids of the tokens that start with each byte, longest
	// first.
	first [256][]int32
	// strip holds the tokens that swallow white space before (stripLeft)
	// or after (stripRight) them, as Hugging Face's lstrip and rstrip.
	strip map[int32]uint8
}

const (
	stripLeft = 1 << iota
	stripRight
)

// eogNames are the pieces that end generation wherever they appear, as
// llama.cpp decides by name: end-of-turn and end-of-message tokens.
var eogNames = []string{"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>"}

// initSpecial sets up the special-token matcher, the end-of-generation set
// and AddBOS from v.
func (t *Tokenizer) initSpecial(v Vocab) {
	for i, p := range t.pieces {
		switch t.types[i] {
		case Control, UserDefined, Unknown:
			if p != "" {
				t.special.first[p[0]] = append(t.special.first[p[0]], int32(i))
			}
		}
	}
	for _, ids := range t.special.first {
		slices.SortStableFunc(ids, func(a, b int32) int { return len(t.pieces[b]) - len(t.pieces[a]) })
	}
	add := func(id int) {
		if id >= 0 && id < len(t.pieces) && !slices.Contains(t.eog, id) {
			t.eog = append(t.eog, id)
		}
	}
	add(t.eos)
	for _, id := range v.EOG {
		add(id)
	}
	for _, name := range eogNames {
		for _, id := range t.special.first[name[0]] {
			if t.pieces[id] == name {
				add(int(id))
			}
		}
	}
	t.addBOS = v.AddBOS
}

// match returns the longest special token at text[i:], with its length, or
// a length of 0.
func (m *specialMatcher) match(pieces []string, text string, i int) (id int32, n int) {
	for _, id := range m.first[text[i]] {
		if p := pieces[id]; strings.HasPrefix(text[i:], p) {
			return id, len(p)
		}
	}
	return -1, 0
}

// EncodeSpecial is Encode, except that special and added tokens spelled out
// in text (such as "<|begin_of_text|>", "<|eot_id|>", "<|im_end|>", "<s>")
// become their token: the text is cut at them, leftmost and longest first,
// and the pieces between are encoded as by Encode. Control, UserDefined and
// Unknown tokens are matched. Use it for trusted text such as a chat
// template's output, not for user input.
//
// As in llama.cpp and Hugging Face, a SentencePiece vocabulary's dummy
// prefix is added to each piece of text, not only the first; a Hugging Face
// Metaspace pre-tokenizer with prepend_scheme "first" adds it only at the
// start of text.
func (t *Tokenizer) EncodeSpecial(text string, addBOS bool) []int {
	out := make([]int, 0, len(text)/3+2)
	if addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	return t.encode(text, true, out)
}

// encode appends the ids of text to out, matching special tokens first if
// special is set.
func (t *Tokenizer) encode(text string, special bool, out []int) []int {
	var e *bpeEncoder
	if t.bpe != nil {
		e = bpePool.Get().(*bpeEncoder)
		if len(text) >= cacheMinLen {
			e.seen = make(map[string][2]int32, len(text)/16)
		}
	}
	plain := func(s string, atStart bool) {
		switch {
		case s == "":
		case e != nil:
			out = t.encodeBPE(s, atStart, out, e)
		default:
			out = t.encodeSPM(s, out)
		}
	}
	start := 0
	for i := 0; special && i < len(text); {
		id, n := t.special.match(t.pieces, text, i)
		if n == 0 {
			i++
			continue
		}
		flags := t.special.strip[id]
		s := text[start:i]
		if flags&stripLeft != 0 {
			s = strings.TrimRightFunc(s, unicode.IsSpace)
		}
		plain(s, start == 0)
		out = append(out, int(id))
		for i += n; flags&stripRight != 0 && i < len(text); {
			r, size := utf8.DecodeRuneInString(text[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += size
		}
		start = i
	}
	plain(text[start:], start == 0)
	if e != nil {
		e.seen = nil
		if cap(e.syms) <= 1<<16 {
			bpePool.Put(e)
		}
	}
	return out
}

// IsEOG reports whether token id ends generation: EOS, and the
// end-of-turn tokens given by the model's metadata (GGUF eot_token_id and
// eom_token_id, Hugging Face generation_config.json eos_token_id) or known
// by name ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", ...).
func (t *Tokenizer) IsEOG(id int) bool {
	return id >= 0 && slices.Contains(t.eog, id)
}

// EOG returns the end-of-generation ids, EOS first if there is one.
func (t *Tokenizer) EOG() []int { return slices.Clone(t.eog) }

// AddBOS reports whether the model expects prompts to start with BOS
// (GGUF tokenizer.ggml.add_bos_token; in Hugging Face files, a BOS in the
// post-processor's template or tokenizer_config.json's add_bos_token).
// Llama 2 and Llama 3 do; Qwen2 does not.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }
