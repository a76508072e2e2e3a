// Command thinkv runs Llama-family language models on the CPU with a thin KV
// cache: generate text, tokenize, inspect models, and measure what each cache
// compression setting costs and saves.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type command struct {
	name, summary string
	run           func(args []string, stdout io.Writer) error
}

var commands = []command{
	{"demo", "compare compressed caches on an embedded model: no download, no flags", runDemo},
	{"generate", "generate text from a prompt", runGenerate},
	{"tokenize", "print the token ids of a text", runTokenize},
	{"info", "describe a model file", runInfo},
	{"convert", "write a model as GGUF, optionally quantized", runConvert},
	{"eval", "run benchmark tasks under each press (eval fidelity, eval merge)", runEval},
	{"analyze", "show a model's key-channel magnitudes and low-rank attention", runAnalyze},
	{"presses", "list the KV-cache compression policies and their keys", runPresses},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: thinkv COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'thinkv COMMAND --help' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errOut receives diagnostics and flag usage; run sets it.
var errOut io.Writer = os.Stderr

// run executes a command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	errOut = stderr
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if a := args[0]; a == "-h" || a == "--help" || a == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "thinkv %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "thinkv: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// newFlags makes a flag set that reports errors instead of exiting.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: thinkv %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and refuses stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(errOut)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags go before it? see --help)", fs.Arg(0))
	}
	return nil
}

// promptText returns the text of -p or the contents of -f; exactly one must be set
// unless optional.
func promptText(p string, pSet bool, file string) (string, error) {
	switch {
	case pSet && file != "":
		return "", fmt.Errorf("give either -p or -f, not both")
	case file != "":
		b, err := os.ReadFile(file)
		return string(b), err
	case pSet:
		return p, nil
	}
	return "", fmt.Errorf("no prompt: give -p TEXT or -f FILE")
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// printable reports whether a piece should be printed, following llama2.c's
// safe_printf: lone control bytes that are not whitespace are dropped.
func printable(piece string) bool {
	if len(piece) != 1 {
		return piece != ""
	}
	b := piece[0]
	// Bytes ≥ 0x80 are parts of UTF-8 characters split over byte tokens: kept.
	return (b >= 0x20 && b != 0x7f) || strings.ContainsRune(" \t\n\v\f\r", rune(b))
}
