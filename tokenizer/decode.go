package tokenizer

import "strings"

// Decode converts token ids back to text: pieces are concatenated with "▁"
// turned into spaces, byte tokens are reassembled into raw bytes, control
// and unused tokens produce nothing, and the unknown token produces its
// piece (e.g. "<unk>"). Ids out of range produce nothing. In a byte-level
// vocabulary each piece becomes the bytes it spells (a character split over
// several tokens is whole again), and added tokens produce their text.
//
// If the vocabulary adds a dummy prefix, one leading space is removed from
// the first token that produces any text, as SentencePiece does; a leading
// BOS does not change this, so Decode(Encode(s, true)) == Decode(Encode(s,
// false)). llama.cpp's detokenizer differs in two corners: when the ids start
// with a control token (such as BOS) it keeps that space, and it does not
// turn "▁" into a space in UserDefined pieces.
func (t *Tokenizer) Decode(ids []int) string {
	var sb strings.Builder
	first := true
	for _, id := range ids {
		if id < 0 || id >= len(t.text) {
			continue
		}
		s := t.text[id]
		if s == "" {
			continue
		}
		if first {
			first = false
			if t.addSpacePrefix && t.types[id] != Byte {
				s = strings.TrimPrefix(s, " ")
			}
		}
		sb.WriteString(s)
	}
	return sb.String()
}

// Piece returns the text of token id for streaming output, with llama2.c's
// decode semantics: "▁" becomes a space, a leading space is removed when prev
// is the BOS token, and a byte token "<0xNN>" becomes the raw byte (so a
// multi-byte character arrives split over several calls). Unlike llama2.c,
// control tokens (BOS, EOS) and unused tokens return "", as do ids out of
// range.
//
// For byte-level BPE vocabularies, Piece returns the bytes the token spells,
// which may be part of a UTF-8 character (the rest follows with the next
// tokens), and removes no space after BOS; for vocabularies read from
// tokenizer.json it removes one only if they add a dummy prefix. The
// concatenated pieces after a BOS equal Decode of the ids.
func (t *Tokenizer) Piece(prev, id int) string {
	if id < 0 || id >= len(t.text) {
		return ""
	}
	s := t.text[id]
	strip := t.bpe == nil || t.addSpacePrefix
	if strip && prev == t.bos && prev >= 0 && t.types[id] != Byte {
		s = strings.TrimPrefix(s, " ")
	}
	return s
}

// Token returns the vocabulary piece of token id (with "▁" for spaces), or
// "" if id is out of range.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Score returns the merge score of token id, or 0 if id is out of range.
func (t *Tokenizer) Score(id int) float32 {
	if id < 0 || id >= len(t.scores) {
		return 0
	}
	return t.scores[id]
}
