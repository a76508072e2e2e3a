package main

import (
	"fmt"
	"io"

	"github.com/thinkv/thinkv/convert"
	"github.com/thinkv/thinkv/engine"
)

func runConvert(args []string, stdout io.Writer) error {
	fs := newFlags("convert", "IN OUT.gguf [--type f32|f16|q8_0|q4_0] [-t TOKENIZER]")
	typName := fs.String("type", "f32", "weight type of the matrices: f32, f16, q8_0 or q4_0")
	tokPath := fs.String("t", "", "llama2.c tokenizer.bin (needed for a llama2.c checkpoint)")
	name := fs.String("name", "llama", "general.name to record")
	fs.SetOutput(errOut)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("want IN and OUT.gguf, got %d arguments", len(pos))
	}
	typ, err := convert.ParseType(*typName)
	if err != nil {
		return err
	}
	e, err := engine.Load(pos[0], *tokPath, 0)
	if err != nil {
		return err
	}
	defer e.Close()
	w, err := convert.ToGGUF(e.Model, e.Tok, typ, *name)
	if err != nil {
		return err
	}
	if err := w.WriteFile(pos[1]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s weights, %d parameters)\n", pos[1], typ, e.Model.ParamCount())
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, and returns the positional ones.
func parseInterspersed(fs interface {
	Parse([]string) error
	Args() []string
}, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}
