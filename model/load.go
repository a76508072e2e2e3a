package model

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/thinkv/thinkv/gguf"
)

// Load opens a model: a Hugging Face directory, or a GGUF or llama2.c
// checkpoint file, telling the files apart by the GGUF magic. For GGUF files it also returns the open file (for its
// tokenizer metadata); it is nil for llama2.c checkpoints. ctx > 0 overrides
// the context length.
func Load(path string, ctx int) (*Model, *gguf.File, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		m, err := LoadHF(path, ctx)
		return m, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: too short to be a model file", path)
	}
	if bytes.Equal(magic, []byte("GGUF")) {
		return LoadGGUF(path, ctx)
	}
	m, err := LoadLlama2C(path)
	if err != nil {
		return nil, nil, err
	}
	if ctx > 0 {
		m.Context = ctx
	}
	return m, nil, nil
}
