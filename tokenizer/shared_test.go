package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedPath returns the path of rel inside the shared test-data folder
// ($THINKV_SHARED, else ../shared from the repository root). If the file is
// missing the test is skipped, unless $CI is set, in which case it fails.
func sharedPath(tb testing.TB, rel string) string {
	tb.Helper()
	dir := os.Getenv("THINKV_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared")
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "" {
			tb.Skipf("shared test data not available (%v); set THINKV_SHARED", err)
		}
		tb.Fatalf("shared test data missing with CI set: %v", err)
	}
	return p
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
