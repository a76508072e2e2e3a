package tokenizer

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// spaceSymbol is SentencePiece's stand-in for a space, U+2581.
const spaceSymbol = "\u2581"

// Vocab describes a vocabulary, as GGUF stores it: SentencePiece by
// default, or byte-level BPE when Model is "gpt2". Token ids are indexes
// into Pieces.
type Vocab struct {
	// Pieces are the token pieces: SentencePiece pieces with U+2581 "▁" for
	// spaces, or byte-level BPE pieces that spell bytes as characters ("Ġ"
	// for a space); control and added tokens are spelled as is. Pieces must
	// be distinct; if not, the lowest id wins.
	Pieces []string
	// Scores rank the pieces for merging (higher merges first). Nil means
	// all zero.
	Scores []float32
	// Types gives each piece's type. Nil means inferred: "<0xNN>" pieces are
	// Byte, the BOS and EOS ids and "<s>", "</s>" are Control, the UNK id and
	// "<unk>" are Unknown, and everything else is Normal.
	Types []TokenType
	// BOS, EOS and UNK are the beginning-of-sequence, end-of-sequence and
	// unknown token ids, or -1 if absent.
	BOS, EOS, UNK int
	// AddSpacePrefix is SentencePiece's add_dummy_prefix: encoding prepends
	// a "▁" to non-empty text, and decoding removes one leading space. It is
	// true for Llama 2 (GGUF key tokenizer.ggml.add_space_prefix, default
	// true).
	AddSpacePrefix bool

	// Model is the GGUF tokenizer model: "llama" (SentencePiece, the
	// default when empty) or "gpt2" (byte-level BPE, where pieces spell
	// bytes as in GPT-2 and Scores are unused).
	Model string
	// Merges are the BPE merges in rank order, each "left right" as in
	// GGUF tokenizer.ggml.merges. "gpt2" needs them; for "llama" they are
	// optional and, when set, replace Scores: pairs then merge in rank
	// order, as Hugging Face's BPE model does.
	Merges []string
	// Pre names the pre-tokenizer of a "gpt2" vocabulary, as GGUF
	// tokenizer.ggml.pre: "gpt-2", "llama-bpe", "qwen2", ... (see FromGGUF);
	// empty means llama.cpp's "default".
	Pre string
	// EOG lists end-of-generation ids besides EOS, such as an end-of-turn
	// token (GGUF tokenizer.ggml.eot_token_id).
	EOG []int
	// AddBOS reports whether the model expects prompts to start with BOS
	// (GGUF tokenizer.ggml.add_bos_token). It is advice for callers:
	// Encode adds BOS when asked, whatever AddBOS says.
	AddBOS bool
}

// Tokenizer encodes text to token ids and decodes ids back to text. It is
// immutable and safe for concurrent use.
type Tokenizer struct {
	pieces         []string
	scores         []float32
	types          []TokenType
	bos, eos, unk  int
	addSpacePrefix bool

	// merge maps the pieces that encoding may produce by merging (Normal,
	// UserDefined and Unused) to their ids.
	merge map[string]int32
	// maxMerge is the longest key of merge, in bytes.
	maxMerge int
	// byteIDs holds each byte's fallback token, or -1.
	byteIDs [256]int32
	// text is each token's decoded text.
	text []string
	// words is set when no mergeable piece has a "▁" after another
	// character (and all are valid UTF-8), so no merge can cross from a
	// character into a following "▁"; encoding then works word by word.
	words bool

	// bpe, if set, encodes with ranked merges instead of scores.
	bpe *bpeModel
	// special matches the special and added tokens for EncodeSpecial.
	special specialMatcher
	// eog holds the end-of-generation ids, EOS included.
	eog    []int
	addBOS bool
}

// New builds a Tokenizer from v. The slices in v are copied. A "gpt2"
// vocabulary, or a "llama" one with Merges, encodes with ranked merges (see
// Vocab.Merges); other "llama" vocabularies with Scores. New fails on an
// empty or inconsistent vocabulary, an unknown Model or Pre, or a merge
// that is not two pieces.
func New(v Vocab) (*Tokenizer, error) {
	n := len(v.Pieces)
	if n == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("tokenizer: vocabulary of %d pieces is too large", n)
	}
	if v.Scores != nil && len(v.Scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d pieces", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d pieces", len(v.Types), n)
	}
	byteLevel := false
	switch v.Model {
	case "", "llama":
	case "gpt2":
		byteLevel = true
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q", v.Model)
	}
	for _, s := range []struct {
		name string
		id   int
	}{{"BOS", v.BOS}, {"EOS", v.EOS}, {"UNK", v.UNK}} {
		if s.id < -1 || s.id >= n {
			return nil, fmt.Errorf("tokenizer: %s id %d out of range [-1, %d)", s.name, s.id, n)
		}
	}
	t := &Tokenizer{
		pieces:         append([]string(nil), v.Pieces...),
		scores:         make([]float32, n),
		types:          make([]TokenType, n),
		bos:            v.BOS,
		eos:            v.EOS,
		unk:            v.UNK,
		addSpacePrefix: v.AddSpacePrefix,
		merge:          make(map[string]int32, n),
		text:           make([]string, n),
	}
	if v.Scores != nil {
		for i, s := range v.Scores {
			if math.IsNaN(float64(s)) {
				return nil, fmt.Errorf("tokenizer: score of token %d is NaN", i)
			}
		}
		copy(t.scores, v.Scores)
	}
	if v.Types != nil {
		copy(t.types, v.Types)
	} else {
		for i, p := range t.pieces {
			t.types[i] = t.inferType(i, p)
		}
	}
	for i := range t.byteIDs {
		t.byteIDs[i] = -1
	}
	if byteLevel {
		t.text = byteLevelTexts(t.pieces, t.types)
	} else {
		t.initSPM()
	}
	if byteLevel || v.Merges != nil {
		bpe, err := newBPE(t, v, byteLevel)
		if err != nil {
			return nil, err
		}
		t.bpe = bpe
	}
	t.initSpecial(v)
	return t, nil
}

// initSPM sets up SentencePiece decoding and score-ranked merging: each
// token's text, the mergeable pieces and the byte-fallback tokens.
func (t *Tokenizer) initSPM() {
	for i, p := range t.pieces {
		switch t.types[i] {
		case Control:
			// Control tokens are invisible and never produced from text.
		case Unknown:
			t.text[i] = p
		case Byte:
			if b, ok := parseByte(p); ok {
				t.text[i] = string([]byte{b})
				if t.byteIDs[b] < 0 {
					t.byteIDs[b] = int32(i)
				}
			}
		case Unused:
			t.addMerge(p, i)
		default: // Normal, UserDefined and unrecognised types
			t.addMerge(p, i)
			t.text[i] = strings.ReplaceAll(p, spaceSymbol, " ")
		}
	}
	t.words = true
	for p := range t.merge {
		if !canSplitBefore(p) {
			t.words = false
			break
		}
	}
	// Without a Byte-typed <0xNN> token, a byte falls back to a piece
	// spelled <0xNN> of another type, then to a one-byte piece, as llama.cpp
	// looks them up by text.
	for b := range t.byteIDs {
		for _, p := range []string{fmt.Sprintf("<0x%02X>", b), string([]byte{byte(b)})} {
			if id, ok := t.merge[p]; ok && t.byteIDs[b] < 0 && t.types[id] != Unused {
				t.byteIDs[b] = id
			}
		}
	}
}

func (t *Tokenizer) addMerge(p string, id int) {
	if p == "" {
		return
	}
	if _, dup := t.merge[p]; dup {
		return
	}
	t.merge[p] = int32(id)
	t.maxMerge = max(t.maxMerge, len(p))
}

// canSplitBefore reports whether piece p is valid UTF-8 with no "▁" right
// after a character other than "▁".
func canSplitBefore(p string) bool {
	if !utf8.ValidString(p) {
		return false
	}
	prev := rune(-1)
	for _, r := range p {
		if r == '\u2581' && prev != -1 && prev != '\u2581' {
			return false
		}
		prev = r
	}
	return true
}

// inferType guesses the type of piece p with the given id.
func (t *Tokenizer) inferType(id int, p string) TokenType {
	switch {
	case id == t.unk || p == "<unk>":
		return Unknown
	case id == t.bos || id == t.eos || p == "<s>" || p == "</s>":
		return Control
	}
	if _, ok := parseByte(p); ok {
		return Byte
	}
	return Normal
}

// parseByte parses a byte-fallback piece "<0xNN>" (upper-case hex).
func parseByte(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(p[3])
	lo, ok2 := hexDigit(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
