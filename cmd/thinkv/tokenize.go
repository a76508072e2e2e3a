package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/tokenizer"
)

func runTokenize(args []string, stdout io.Writer) error {
	fs := newFlags("tokenize", "(-m MODEL | -t TOKENIZER) [-p TEXT | -f FILE | -f -] [--bos=false] [--json]")
	var mf modelFlags
	mf.register(fs)
	prompt := fs.String("p", "", "text")
	file := fs.String("f", "", "read the text from this file (-: standard input)")
	bos := &optBool{}
	fs.Var(bos, "bos", "prepend BOS (default: as generate does, when the model takes one)")
	asJSON := fs.Bool("json", false, `print {"ids": [...]}`)
	if err := fs.parse(args); err != nil {
		return err
	}
	if mf.path == "" && mf.tok == "" {
		return fs.usagef("no tokenizer: give -m MODEL or -t TOKENIZER")
	}
	text, err := readPrompt(fs, *prompt, *file)
	if err != nil {
		return err
	}
	var tok *tokenizer.Tokenizer
	if mf.path != "" {
		e, err := mf.load()
		if err != nil {
			return err
		}
		defer e.Close()
		tok = e.Tok
	} else if tok, err = engine.LoadTokenizer(mf.tok, 0); err != nil {
		return err
	}
	addBOS := tok.AddBOS()
	if bos.set {
		addBOS = bos.v
	}
	ids := tok.Encode(text, addBOS)
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

// optBool is a boolean flag whose default is decided later: set reports
// whether it was given.
type optBool struct{ v, set bool }

func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	b.v, b.set = v, true
	return nil
}

func (*optBool) IsBoolFlag() bool { return true }
