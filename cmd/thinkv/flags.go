package main

import (
	"runtime"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/press"
)

// maxCtx is the largest context a command line may ask for: positions are
// stored as 32-bit integers, and anything near it is a typo, not a model.
const maxCtx = 1 << 30

// modelFlags are the flags that pick a model and run it, one definition for
// every command: -m, -t/--tokenizer, -c/--ctx, --threads.
type modelFlags struct {
	fs        *flagSet
	path, tok string
	ctx       int
	threads   int
}

func (f *modelFlags) register(fs *flagSet) {
	f.fs = fs
	fs.StringVar(&f.path, "m", "", "model: GGUF file, Hugging Face directory or llama2.c checkpoint")
	fs.StringVar(&f.tok, "tokenizer", "", "tokenizer: llama2.c tokenizer.bin, tokenizer.json or its directory (default: the model's own)")
	fs.alias("tokenizer", "t")
	fs.intVar(&f.ctx, "ctx", 0, 1, maxCtx, "context length: the most tokens a sequence holds (default: the model's own)")
	fs.alias("ctx", "c")
	fs.intVar(&f.threads, "threads", runtime.NumCPU(), 1, 4096, "worker threads")
}

// check reports a missing model before anything is loaded.
func (f *modelFlags) check() error {
	if f.path == "" {
		return f.fs.usagef("no model: give -m MODEL")
	}
	return nil
}

// load opens the engine.
func (f *modelFlags) load() (*engine.Engine, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	e, err := engine.Load(f.path, f.tok, f.ctx)
	if err != nil {
		return nil, err
	}
	e.SetThreads(f.threads)
	return e, nil
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
