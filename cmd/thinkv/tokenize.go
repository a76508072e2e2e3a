package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/tokenizer"
)

func runTokenize(args []string, stdout io.Writer) error {
	fs := newFlags("tokenize", "(-m MODEL | -t TOKENIZER) (-p TEXT | -f FILE) [--bos] [--json]")
	modelPath := fs.String("m", "", "GGUF model (its vocabulary is used)")
	tokPath := fs.String("t", "", "llama2.c tokenizer.bin")
	vocab := fs.Int("vocab", 0, "vocabulary size of the -t file (0: read to its end)")
	prompt := fs.String("p", "", "text")
	file := fs.String("f", "", "read the text from this file")
	bos := fs.Bool("bos", false, "prepend BOS")
	asJSON := fs.Bool("json", false, `print {"ids": [...]}`)
	if err := parse(fs, args); err != nil {
		return err
	}
	text, err := promptText(*prompt, isSet(fs, "p"), *file)
	if err != nil {
		return err
	}
	var tok *tokenizer.Tokenizer
	switch {
	case *tokPath != "" && *modelPath != "":
		return fmt.Errorf("give either -m or -t, not both")
	case *tokPath != "":
		tok, err = tokenizer.LoadLlama2C(*tokPath, *vocab)
	case *modelPath != "":
		var f *gguf.File
		if f, err = gguf.Open(*modelPath); err != nil {
			return err
		}
		defer f.Close()
		tok, err = tokenizer.FromGGUF(f)
	default:
		return fmt.Errorf("no tokenizer: give -m MODEL.gguf or -t TOKENIZER")
	}
	if err != nil {
		return err
	}
	ids := tok.Encode(text, *bos)
	if *asJSON {
		if ids == nil {
			ids = []int{}
		}
		return json.NewEncoder(stdout).Encode(map[string][]int{"ids": ids})
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	_, err = fmt.Fprintln(stdout, strings.Join(s, " "))
	return err
}
