package main

import (
	"flag"
	"fmt"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/press"
)

// modelFlags are the flags that pick a model and its tokenizer: -m, -t, --ctx.
type modelFlags struct {
	path, tok string
	ctx       int
}

func (f *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.path, "m", "", "model: GGUF file, Hugging Face directory or llama2.c checkpoint")
	fs.StringVar(&f.tok, "t", "", "tokenizer: llama2.c tokenizer.bin or tokenizer.json (default: the model's own)")
	fs.IntVar(&f.ctx, "ctx", 0, "context length (0: the model's own)")
}

// check reports a missing model before anything is loaded.
func (f *modelFlags) check() error {
	if f.path == "" {
		return fmt.Errorf("no model: give -m MODEL")
	}
	return nil
}

// load opens the engine.
func (f *modelFlags) load() (*engine.Engine, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return engine.Load(f.path, f.tok, f.ctx)
}

// parsePresses parses repeated --press specs.
func parsePresses(specs []string) ([]press.Press, error) {
	var out []press.Press
	for _, s := range specs {
		p, err := press.Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
