// Package tokenizer owns text <-> token-id conversion for the vocabularies
// of Llama-family models: SentencePiece BPE with byte fallback (Llama 2,
// Mistral, llama2.c, llama.cpp's "llama" vocabulary type) and byte-level BPE
// (GPT-2, Llama 3, Qwen2, llama.cpp's "gpt2" type).
//
// A Tokenizer is built from a Vocab (pieces, scores or merges, token types
// and the special ids) with New, from a llama2.c tokenizer.bin file with
// LoadLlama2C / ParseLlama2C, from GGUF metadata with FromGGUF, or from a
// Hugging Face tokenizer.json (and the configuration files beside it) with
// Load / ParseHF.
//
// SentencePiece encoding follows llama.cpp's SPM tokenizer: spaces become
// U+2581 ("▁"), a "▁" is prepended when the vocabulary asks for a dummy
// prefix, the text is split into UTF-8 characters, and the adjacent pair
// whose concatenation is the best-scoring vocabulary piece is merged until no
// pair is left (ties go to the leftmost pair). Symbols that are not pieces
// fall back to <0xNN> byte tokens.
//
// Byte-level BPE encoding follows Hugging Face's BPE model, as llama.cpp
// does for "gpt2" vocabularies: the text is cut into pre-tokens by the
// model's split rule (the regular expressions of GPT-2, Llama 3 or Qwen2,
// matched by hand-written code, or others run by a backtracking regexp
// engine), each pre-token starts as one symbol per byte, and the adjacent
// pair with the lowest merge rank is merged until no pair has a merge.
// Repeated words of a long text are merged once. A tokenizer.json for a
// SentencePiece-style model (Llama 2, Mistral) works the same way on UTF-8
// characters, with byte fallback.
//
// Encode treats all text as text: "<s>" or "<|eot_id|>" in a prompt never
// becomes a special token. EncodeSpecial matches special and added tokens
// first, for trusted text such as a chat template's output. IsEOG tells
// which tokens end generation: EOS and the end-of-turn tokens the metadata
// names.
//
// Decoding reverses encoding: "▁" becomes a space and byte tokens become raw
// bytes (SentencePiece), or pieces become the bytes they spell (byte-level);
// control tokens produce nothing, and a dummy prefix's space is removed
// again. Piece gives llama2.c's streaming view of a single token, which for
// byte-level vocabularies may be part of a UTF-8 character.
//
// A Tokenizer is immutable after construction and safe for concurrent use.
package tokenizer
