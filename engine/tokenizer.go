package engine

import (
	"fmt"
	"strings"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/tokenizer"
)

// ModelTokenizer opens the tokenizer of the model at modelPath: the file at
// tokPath if given (see LoadTokenizer; vocab is the model's vocabulary), else
// the GGUF metadata meta (nil for other formats) or a Hugging Face
// directory's tokenizer.json. A llama2.c checkpoint has none of its own.
func ModelTokenizer(modelPath, tokPath string, meta *gguf.File, vocab int) (*tokenizer.Tokenizer, error) {
	switch {
	case tokPath != "":
		return LoadTokenizer(tokPath, vocab)
	case meta != nil:
		return tokenizer.FromGGUF(meta)
	case isDir(modelPath):
		return tokenizer.Load(modelPath)
	}
	return nil, fmt.Errorf("%s is a llama2.c checkpoint: give its tokenizer with -t", modelPath)
}

// LoadTokenizer opens a tokenizer file: a tokenizer.json or the directory
// holding it, or else a llama2.c tokenizer.bin of vocab tokens (0: as many as
// the file holds). Every command that takes -t reads it through here.
func LoadTokenizer(path string, vocab int) (*tokenizer.Tokenizer, error) {
	if isDir(path) || strings.HasSuffix(path, ".json") {
		return tokenizer.Load(path)
	}
	return tokenizer.LoadLlama2C(path, vocab)
}
