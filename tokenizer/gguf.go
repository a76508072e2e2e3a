package tokenizer

import (
	"errors"
	"fmt"

	"github.com/thinkv/thinkv/gguf"
)

// GGUF metadata keys read by FromGGUF.
const (
	keyModel          = "tokenizer.ggml.model"
	keyTokens         = "tokenizer.ggml.tokens"
	keyScores         = "tokenizer.ggml.scores"
	keyTokenType      = "tokenizer.ggml.token_type"
	keyBOS            = "tokenizer.ggml.bos_token_id"
	keyEOS            = "tokenizer.ggml.eos_token_id"
	keyUNK            = "tokenizer.ggml.unknown_token_id"
	keyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
)

// metadata is the part of *gguf.File that FromGGUF reads.
type metadata interface {
	String(key string) (string, bool)
	Uint(key string) (uint64, bool)
	Bool(key string) (bool, bool)
	Strings(key string) ([]string, bool)
	Float32s(key string) ([]float32, bool)
	Int32s(key string) ([]int32, bool)
}

// FromGGUF builds a Tokenizer from a GGUF file's tokenizer.ggml.* metadata.
// Only the "llama" (SentencePiece) tokenizer model is supported. Scores
// default to zero and token types are inferred when absent; add_space_prefix
// defaults to true. As in llama.cpp, a missing or out-of-range BOS, EOS or
// UNK id falls back to 1, 2 or 0 (or -1 if the vocabulary is too small).
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	if f == nil {
		return nil, errors.New("tokenizer: nil GGUF file")
	}
	return fromMetadata(f)
}

func fromMetadata(m metadata) (*Tokenizer, error) {
	model, ok := m.String(keyModel)
	if !ok {
		return nil, fmt.Errorf("tokenizer: GGUF has no string %s", keyModel)
	}
	if model != "llama" {
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q", model)
	}
	pieces, ok := m.Strings(keyTokens)
	if !ok {
		return nil, fmt.Errorf("tokenizer: GGUF has no string array %s", keyTokens)
	}
	v := Vocab{Pieces: pieces, AddSpacePrefix: true}
	if scores, ok := m.Float32s(keyScores); ok {
		v.Scores = scores
	}
	if types, ok := m.Int32s(keyTokenType); ok {
		v.Types = make([]TokenType, len(types))
		for i, t := range types {
			v.Types[i] = TokenType(t)
		}
	}
	if b, ok := m.Bool(keyAddSpacePrefix); ok {
		v.AddSpacePrefix = b
	}
	n := len(pieces)
	v.BOS = specialID(m, keyBOS, llama2cBOS, n)
	v.EOS = specialID(m, keyEOS, llama2cEOS, n)
	v.UNK = specialID(m, keyUNK, llama2cUNK, n)
	t, err := New(v)
	if err != nil {
		return nil, fmt.Errorf("%w (GGUF %s)", err, keyTokens)
	}
	return t, nil
}

// specialID reads a special token id, falling back to def when the key is
// absent or out of range, and to -1 when def is out of range too.
func specialID(m metadata, key string, def, n int) int {
	if id, ok := m.Uint(key); ok && id < uint64(n) {
		return int(id)
	}
	if def < n {
		return def
	}
	return -1
}
