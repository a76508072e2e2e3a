package engine

import (
	"strings"

	"github.com/thinkv/thinkv/tokenizer"
)

// LoadTokenizer opens a tokenizer file: a tokenizer.json or the directory
// holding it, or else a llama2.c tokenizer.bin of vocab tokens (0: as many as
// the file holds). Every command that takes -t reads it through here.
func LoadTokenizer(path string, vocab int) (*tokenizer.Tokenizer, error) {
	if isDir(path) || strings.HasSuffix(path, ".json") {
		return tokenizer.Load(path)
	}
	return tokenizer.LoadLlama2C(path, vocab)
}
