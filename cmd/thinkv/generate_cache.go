package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// cacheFlags are generate's --save-cache and --load-cache: compress a long
// document once, then ask about it in later runs.
type cacheFlags struct{ save, load string }

func (f *cacheFlags) register(fs *flagSet) {
	fs.StringVar(&f.save, "save-cache", "", "prefill the prompt (a document), compress it with --press, write the cache to this file, and generate nothing")
	fs.StringVar(&f.load, "load-cache", "", "go on from a cache that --save-cache wrote: the prompt is what follows the document (a question), run uncompressed")
}

// check refuses flags that do not go with the cache flags.
func (f *cacheFlags) check(fs *flagSet) error {
	switch {
	case f.save != "" && f.load != "":
		return fs.usagef("give --save-cache or --load-cache, not both")
	case f.save != "" && (fs.isSet("n") || fs.isSet("steps")):
		return fs.usagef("--save-cache generates nothing: -n and --steps do not apply")
	case f.load != "" && fs.isSet("press"):
		return fs.usagef("--load-cache takes no --press: the cache was compressed when it was saved")
	case f.load != "" && fs.isSet("kv-type"):
		return fs.usagef("--load-cache takes no --kv-type: the cache keeps the type it was saved with")
	}
	return nil
}

// loadPrefix reads the --load-cache file (nil without the flag).
func (f *cacheFlags) loadPrefix(e *engine.Engine) (*kvcache.Cache, error) {
	if f.load == "" {
		return nil, nil
	}
	return e.LoadCache(f.load)
}

// savedReport is what --save-cache prints with --json.
type savedReport struct {
	File       string  `json:"file"`
	Tokens     int     `json:"tokens"`
	Press      string  `json:"press"`
	KVBytes    int64   `json:"kv_bytes"`
	KVFull     int64   `json:"kv_bytes_full"`
	FileBytes  int64   `json:"file_bytes"`
	PrefillMS  float64 `json:"prefill_ms"`
	PrefillTPS float64 `json:"prefill_tokens_per_s"`
}

// saveCache prefills and compresses text, writes its cache to path and
// reports what it holds.
func saveCache(e *engine.Engine, text string, p press.Press, typ kvcache.DType, path string, stdout io.Writer, asJSON bool) error {
	ids := e.Tok.Encode(text, e.Tok.AddBOS())
	t0 := time.Now()
	c, err := e.PrefillCache(ids, p, typ)
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	if err := e.SaveCache(path, c); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	name := "none"
	if p != nil {
		name = p.String()
	}
	r := savedReport{File: path, Tokens: len(ids), Press: name, KVBytes: c.HeldBytes(), KVFull: c.Config().TokenBytes() * int64(len(ids)),
		FileBytes: st.Size(), PrefillMS: ms(elapsed), PrefillTPS: float64(len(ids)) / elapsed.Seconds()}
	if asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	_, err = fmt.Fprintf(stdout, "saved %s: %d tokens under %s, %d KV bytes (%.3f of the full cache's %d), a %d-byte file; prefill took %.0f ms\n",
		r.File, r.Tokens, r.Press, r.KVBytes, float64(r.KVBytes)/float64(r.KVFull), r.KVFull, r.FileBytes, r.PrefillMS)
	return err
}
