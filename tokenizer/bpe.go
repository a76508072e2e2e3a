package tokenizer

import (
	"fmt"
	"strings"
)

// bpeModel encodes with ranked merges, as Hugging Face's "BPE" model and
// llama.cpp's "gpt2" vocabularies do: the text is normalised, cut into
// pre-tokens (words), and in each word the adjacent pair of symbols with the
// lowest merge rank is merged (leftmost first among equals) until no pair
// has a merge.
//
// A byte-level model starts each word from one symbol per byte (the token
// whose piece spells the byte); a character-level one (Llama 2 and Mistral
// in tokenizer.json form) from one symbol per UTF-8 character, falling back
// to <0xNN> byte tokens, or UNK, for characters that are not pieces.
type bpeModel struct {
	byteLevel bool
	merges    map[uint64]bpeMerge // by pairKey(left id, right id)
	mergeList []string            // the merges as given, for Vocab
	// ids maps every piece to its id (the lowest, for duplicates).
	ids map[string]int32
	// byteSym holds, for byte-level models, the token of each byte, or -1.
	byteSym [256]int32
	// whole maps the bytes of each normal token of a byte-level model, to
	// find words that are whole tokens (ignoreMerges).
	whole        map[string]int32
	ignoreMerges bool
	byteFallback bool
	fuseUnk      bool

	ops   []textOp    // normalisation of each segment of text
	steps []splitStep // pre-tokenization
	pre   string      // the GGUF pre-tokenizer name
}

type bpeMerge struct{ rank, id int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// textOp is one normalisation step, applied to each segment of text
// between special tokens.
type textOp struct {
	kind     uint8
	from, to string
}

const (
	opReplace   = iota // replace every from with to
	opPrepend          // prepend to to a non-empty segment
	opPrefix           // prepend to unless the segment starts with it
	opPrefixAt0        // opPrefix, only for the segment that starts the text
)

func (m *bpeModel) normalize(s string, atStart bool) string {
	for _, op := range m.ops {
		switch op.kind {
		case opReplace:
			s = strings.ReplaceAll(s, op.from, op.to)
		case opPrepend:
			if s != "" {
				s = op.to + s
			}
		case opPrefix, opPrefixAt0:
			if s != "" && !strings.HasPrefix(s, op.to) && (op.kind == opPrefix || atStart) {
				s = op.to + s
			}
		}
	}
	return s
}

// newBPE builds the merge tables of t from v. A byte-level model takes its
// pre-tokenizer from v.Pre; a character-level one gets SentencePiece's
// normalisation (spaces become "▁", plus the dummy prefix).
func newBPE(t *Tokenizer, v Vocab, byteLevel bool) (*bpeModel, error) {
	m := &bpeModel{
		byteLevel:    byteLevel,
		ids:          make(map[string]int32, len(t.pieces)),
		mergeList:    append([]string(nil), v.Merges...),
		byteFallback: true,
	}
	for i := len(t.pieces) - 1; i >= 0; i-- {
		m.ids[t.pieces[i]] = int32(i)
	}
	if byteLevel {
		if v.Merges == nil {
			return nil, fmt.Errorf("tokenizer: byte-level vocabulary without merges")
		}
		steps, ignore, err := preByName(v.Pre)
		if err != nil {
			return nil, err
		}
		m.steps, m.ignoreMerges, m.pre = steps, ignore, v.Pre
		if m.pre == "" {
			m.pre = "default"
		}
		for b := range m.byteSym {
			m.byteSym[b] = m.lookup(t, string(byteRune[b]))
		}
		m.whole = make(map[string]int32, len(t.pieces))
		for i := range t.pieces {
			if t.types[i] == Normal {
				if _, dup := m.whole[t.text[i]]; !dup {
					m.whole[t.text[i]] = int32(i)
				}
			}
		}
	} else {
		m.ops = append(m.ops, textOp{kind: opReplace, from: " ", to: spaceSymbol})
		if t.addSpacePrefix {
			m.ops = append(m.ops, textOp{kind: opPrepend, to: spaceSymbol})
		}
	}
	m.merges = make(map[uint64]bpeMerge, len(v.Merges))
	for rank, s := range v.Merges {
		a, b, ok := splitMerge(s)
		if !ok {
			return nil, fmt.Errorf("tokenizer: merge %d %q is not two pieces", rank, s)
		}
		m.addMerge(t, a, b, rank)
	}
	if !byteLevel && m.wordSafe(t) {
		m.steps = []splitStep{{splitter: metaSplitter{afterWord: true}}}
	}
	return m, nil
}

// splitMerge splits a merge "left right" at the first space after its
// first byte, as llama.cpp does.
func splitMerge(s string) (a, b string, ok bool) {
	if s == "" {
		return "", "", false
	}
	i := strings.IndexByte(s[1:], ' ') + 1
	if i <= 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// lookup returns the id of piece p if encoding may produce it, or -1.
func (m *bpeModel) lookup(t *Tokenizer, p string) int32 {
	if id, ok := m.ids[p]; ok && t.types[id] != Control {
		return id
	}
	return -1
}

// addMerge records the merge of pieces a and b, unless a piece is missing
// or the pair already has a lower rank.
func (m *bpeModel) addMerge(t *Tokenizer, a, b string, rank int) {
	l, r, c := m.lookup(t, a), m.lookup(t, b), m.lookup(t, a+b)
	if l < 0 || r < 0 || c < 0 {
		return
	}
	k := pairKey(l, r)
	if _, dup := m.merges[k]; !dup {
		m.merges[k] = bpeMerge{rank: int32(rank), id: c}
	}
}

// wordSafe reports whether no merge can produce a piece with "▁" after
// another character, so the normalised text may be cut before such a "▁".
func (m *bpeModel) wordSafe(t *Tokenizer) bool {
	for _, mg := range m.merges {
		if !canSplitBefore(t.pieces[mg.id]) {
			return false
		}
	}
	return true
}

// byteLevelTexts returns the decoded text of each byte-level token: the
// bytes a normal piece spells, control and unused tokens nothing, and other
// tokens (added, unknown) their piece as is.
func byteLevelTexts(pieces []string, types []TokenType) []string {
	text := make([]string, len(pieces))
	for i, p := range pieces {
		switch types[i] {
		case Control, Unused:
		case Unknown, UserDefined:
			text[i] = p
		case Byte:
			if b, ok := parseByte(p); ok {
				text[i] = string([]byte{b})
			} else {
				text[i] = byteLevelDecode(p)
			}
		default:
			text[i] = byteLevelDecode(p)
		}
	}
	return text
}
