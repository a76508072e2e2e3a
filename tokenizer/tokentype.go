package tokenizer

import "fmt"

// TokenType mirrors GGUF tokenizer.ggml.token_type values.
type TokenType int32

// Token types, with the values GGUF and SentencePiece use.
const (
	Normal      TokenType = 1 // an ordinary piece, produced by merging
	Unknown     TokenType = 2 // the unknown token, e.g. <unk>
	Control     TokenType = 3 // invisible control tokens, e.g. <s> and </s>
	UserDefined TokenType = 4 // a piece added by the model's author
	Unused      TokenType = 5 // a reserved piece that is never emitted
	Byte        TokenType = 6 // a byte-fallback token <0xNN>
)

// String returns the type's name.
func (t TokenType) String() string {
	switch t {
	case Normal:
		return "normal"
	case Unknown:
		return "unknown"
	case Control:
		return "control"
	case UserDefined:
		return "user-defined"
	case Unused:
		return "unused"
	case Byte:
		return "byte"
	}
	return fmt.Sprintf("TokenType(%d)", int32(t))
}
