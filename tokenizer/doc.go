// Package tokenizer owns text <-> token-id conversion for SentencePiece BPE
// vocabularies with byte fallback, as used by Llama 2, llama2.c and
// llama.cpp's "llama" (SPM) vocabulary type.
//
// A Tokenizer is built from a Vocab (pieces, scores, token types and the
// special ids), either directly with New, from a llama2.c tokenizer.bin file
// with LoadLlama2C / ParseLlama2C, or from GGUF metadata with FromGGUF.
//
// Encoding follows llama.cpp's SPM tokenizer: spaces become U+2581 ("▁"), a
// "▁" is prepended when the vocabulary asks for a dummy prefix, the text is
// split into UTF-8 characters, and the adjacent pair whose concatenation is
// the best-scoring vocabulary piece is merged until no pair is left (ties go
// to the leftmost pair). Symbols that are not pieces fall back to <0xNN> byte
// tokens. Text that looks like a special token ("<s>", "</s>", ...) is always
// encoded as plain text.
//
// Decoding reverses this: "▁" becomes a space, byte tokens are reassembled
// into raw bytes, control tokens produce nothing, and the space added by the
// dummy prefix is removed again. Piece gives llama2.c's streaming view of a
// single token.
//
// A Tokenizer is immutable after construction and safe for concurrent use.
package tokenizer
