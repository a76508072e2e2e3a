package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/thinkv/thinkv/convert"
	"github.com/thinkv/thinkv/engine"
)

func runConvert(args []string, stdout io.Writer) error {
	fs := newFlags("convert", "IN OUT.gguf [--type TYPE] [-t TOKENIZER] [--ctx N]")
	typName := fs.String("type", "f32", "weight type of the matrices: "+strings.Join(convert.SchemeNames(), ", ")+
		" (q4_k_m and q5_k_m are llama.cpp's mixes: Q6_K for the output head, a tied embedding and half of attn_v/ffn_down)")
	tokPath := fs.String("tokenizer", "", "tokenizer: llama2.c tokenizer.bin (needed for a llama2.c checkpoint), tokenizer.json or its directory")
	fs.alias("tokenizer", "t")
	var ctx int
	fs.intVar(&ctx, "ctx", 0, 1, maxCtx, "context length to record (default: the input's own)")
	fs.alias("ctx", "c")
	name := fs.String("name", "llama", "general.name to record")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fs.usagef("want IN and OUT.gguf, got %d arguments", len(pos))
	}
	sc, err := convert.ParseScheme(*typName)
	if err != nil {
		return fs.usagef("--type: %v", err)
	}
	for _, in := range []string{pos[0], *tokPath} {
		if err := checkOutput(in, pos[1]); err != nil {
			return fs.usagef("%v", err)
		}
	}
	e, err := engine.Load(pos[0], *tokPath, ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	w, err := convert.ToGGUFScheme(e.Model, e.Tok, sc, *name)
	if err != nil {
		return err
	}
	if err := w.WriteFile(pos[1]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s weights, %d parameters)\n", pos[1], sc.Name, e.Model.ParamCount())
	return nil
}

// checkOutput refuses an output that would replace the input in: the same
// path, the same file under another name (a hard or symbolic link), or a file
// the loader reads (.json, .safetensors) in the directory in. An input that
// does not exist is left for the loader to report.
func checkOutput(in, out string) error {
	if in == "" {
		return nil
	}
	if filepath.Clean(in) == filepath.Clean(out) {
		return fmt.Errorf("output %s is the input: write the GGUF to a new file", out)
	}
	ist, err := os.Stat(in)
	if err != nil {
		return nil
	}
	if ost, err := os.Stat(out); err == nil && os.SameFile(ist, ost) {
		return fmt.Errorf("output %s is the input %s under another name: write the GGUF to a new file", out, in)
	}
	if ist.IsDir() {
		dst, err := os.Stat(filepath.Dir(out))
		if ext := filepath.Ext(out); err == nil && os.SameFile(ist, dst) && (ext == ".json" || ext == ".safetensors") {
			return fmt.Errorf("output %s would replace a file of the input directory %s", out, in)
		}
	}
	return nil
}
