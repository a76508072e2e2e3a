package main

import (
	"runtime"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// maxCtx is the largest context a command line may ask for: positions are
// stored as 32-bit integers, and anything near it is a typo, not a model.
const maxCtx = 1 << 30

// kvTypeHelp is the help of every command's --kv-type flag.
const kvTypeHelp = "KV-cache storage type: f16, f32, q8_0 or q4_0 (GGUF's 32-channel blocks: 34 and 18 bytes for 32 values, against 64 for f16)"

// cacheFlags parses the values of a command's --kv-type and --press flags,
// reporting a bad one as a usage error.
func (fs *flagSet) cacheFlags(kvType, spec string) (kvcache.DType, press.Press, error) {
	typ, err := kvcache.ParseDType(kvType)
	if err != nil {
		return 0, nil, fs.usagef("--kv-type: %v", err)
	}
	p, err := press.Parse(spec)
	if err != nil {
		return 0, nil, fs.usagef("--press: %v", err)
	}
	return typ, p, nil
}

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

// chunkFlags are --chunked-compress and --chunk: the prompt prefilled in
// chunks, the press compressing the cache after each one.
type chunkFlags struct {
	on    bool
	chunk int
}

func (f *chunkFlags) register(fs *flagSet, what string) {
	fs.BoolVar(&f.on, "chunked-compress", false, what+": the prompt is prefilled in chunks of --chunk tokens and the press compresses the cache after each one, so it holds about the press's budget plus a chunk at most")
	fs.intVar(&f.chunk, "chunk", engine.PrefillBatch, 1, maxCtx, "prompt tokens per chunk with --chunked-compress")
}

// check refuses --chunk without --chunked-compress.
func (f *chunkFlags) check(fs *flagSet) error {
	if fs.isSet("chunk") && !f.on {
		return fs.usagef("--chunk is the chunk size of --chunked-compress: give both")
	}
	return nil
}

// size returns the chunk size, 0 without --chunked-compress.
func (f *chunkFlags) size() int {
	if !f.on {
		return 0
	}
	return f.chunk
}
