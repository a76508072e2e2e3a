package tokenizer

import (
	"path/filepath"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

// sharedPath returns the path of rel inside the shared test-data folder; see
// internal/sharedtest for when it skips and when it fails.
func sharedPath(tb testing.TB, rel string) string {
	tb.Helper()
	return sharedtest.Path(tb, filepath.FromSlash(rel))
}

// loadLlama2C loads a llama2.c tokenizer from the shared folder.
func loadLlama2C(tb testing.TB, rel string, vocabSize int) *Tokenizer {
	tb.Helper()
	tok, err := LoadLlama2C(sharedPath(tb, rel), vocabSize)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}
