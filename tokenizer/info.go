package tokenizer

// BOS returns the beginning-of-sequence token id, or -1.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence token id, or -1.
func (t *Tokenizer) EOS() int { return t.eos }

// UNK returns the unknown token id, or -1.
func (t *Tokenizer) UNK() int { return t.unk }

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// AddSpacePrefix reports whether encoding prepends "▁" to the text.
func (t *Tokenizer) AddSpacePrefix() bool { return t.addSpacePrefix }

// Type returns the type of token id, or 0 if id is out of range.
func (t *Tokenizer) Type(id int) TokenType {
	if id < 0 || id >= len(t.types) {
		return 0
	}
	return t.types[id]
}

// Vocab returns a copy of the vocabulary, with Types filled in (inferred
// types included), for writers such as GGUF export. A tokenizer read from
// tokenizer.json keeps what GGUF can say: a byte-level one its merges and
// the pre-tokenizer name of its split rule ("default" for a rule GGUF has no
// name for); a character-level one becomes "llama" with its merges, and
// scores made from the merge ranks. Hugging Face settings without a GGUF
// key (ignore_merges, Metaspace options, lstrip/rstrip) are not carried.
func (t *Tokenizer) Vocab() Vocab {
	v := Vocab{
		Pieces:         append([]string(nil), t.pieces...),
		Scores:         append([]float32(nil), t.scores...),
		Types:          append([]TokenType(nil), t.types...),
		BOS:            t.bos,
		EOS:            t.eos,
		UNK:            t.unk,
		AddSpacePrefix: t.addSpacePrefix,
		Model:          "llama",
		AddBOS:         t.addBOS,
	}
	for _, id := range t.eog {
		if id != t.eos {
			v.EOG = append(v.EOG, id)
		}
	}
	if t.bpe != nil {
		v.Merges = append([]string(nil), t.bpe.mergeList...)
		if t.bpe.byteLevel {
			// Non-nil even when empty: New refuses a byte-level vocabulary
			// whose merges are missing, not one that has none.
			v.Merges = append([]string{}, t.bpe.mergeList...)
			v.Model, v.Pre = "gpt2", t.bpe.pre
		}
	}
	return v
}
