package engine

import (
	"fmt"
	"io"
	"os"

	"github.com/thinkv/thinkv/internal/atomicfile"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// PrefillCache runs a prompt (a document, say) into a new cache of type typ
// and compresses it with p (nil: none), for requests to go on from
// (Request.Prefix): the document is read and compressed once, and each
// question prefills only its own tokens. The cache's limit is the prompt.
func (e *Engine) PrefillCache(prompt []int, p press.Press, typ kvcache.DType) (*kvcache.Cache, error) {
	if err := e.Check(len(prompt), 0, typ); err != nil {
		return nil, err
	}
	c, s, err := e.NewSequence(len(prompt), len(prompt), typ)
	if err != nil {
		return nil, err
	}
	if _, err := e.Prefill(s, c, prompt, p); err != nil {
		return nil, err
	}
	return c, nil
}

// SaveCache writes c to path in thinkv's cache file format, stamped with
// the model's identity, through a temporary file and a rename.
func (e *Engine) SaveCache(path string, c *kvcache.Cache) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := kvcache.WriteCache(w, c, e.Model.Identity())
		return err
	})
}

// LoadCache reads a cache that SaveCache wrote for this model; a file written
// for another model, or a corrupt one, is an error.
func (e *Engine) LoadCache(path string) (*kvcache.Cache, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := kvcache.ReadCache(f, e.Model.Identity())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
