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

	"golang.org/x/term"
)

type command struct {
	name, summary string
	run           func(args []string, stdout io.Writer) error
}

var commands = []command{
	{"demo", "compare compressed caches on an embedded model: no download, no flags", runDemo},
	{"generate", "generate text from a prompt", runGenerate},
	{"chat", "chat with a model in the terminal, keeping the conversation", runChat},
	{"tokenize", "print the token ids of a text", runTokenize},
	{"info", "describe a model file", runInfo},
	{"convert", "write a model as GGUF, optionally quantized", runConvert},
	{"eval", "run benchmark tasks under each press (eval fidelity, eval merge)", runEval},
	{"analyze", "show a model's key-channel magnitudes and low-rank attention", runAnalyze},
	{"presses", "list the KV-cache compression policies and their keys", runPresses},
	{"bench", "measure prefill and decode speed on synthetic tokens, as llama-bench does", runBench},
	{"serve", "serve an OpenAI-compatible HTTP API on one model", runServe},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: thinkv COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'thinkv COMMAND --help' for a command's flags, 'thinkv --version' for the build.")
}

func main() {
	ignoreFileSizeSignal()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errOut receives diagnostics; run sets it.
var errOut io.Writer = os.Stderr

// stdin is where -f - and a piped prompt are read from; tests replace it.
var stdin io.Reader = os.Stdin

// stdinIsTerminal reports whether standard input is a terminal (then no prompt
// is read from it unasked); tests replace it.
var stdinIsTerminal = func() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// run executes a command line and returns the process exit code: 0 on
// success, 1 when the work failed, 2 for a mistake in the command line.
func run(args []string, stdout, stderr io.Writer) int {
	errOut = stderr
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		usage(stdout)
		return 0
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, version())
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout)
		var ue usageError
		var help helpRequest
		switch {
		case errors.As(err, &help):
			help.fs.printUsage(stdout)
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "thinkv %s: %v\n", c.name, err)
			if ue.fs != nil {
				fmt.Fprintf(stderr, "usage: thinkv %s %s\nRun 'thinkv %s --help' for every flag.\n", ue.fs.Name(), ue.fs.synopsis, ue.fs.Name())
			} else {
				fmt.Fprintf(stderr, "Run 'thinkv %s --help' for usage.\n", c.name)
			}
			return 2
		case err != nil:
			fmt.Fprintf(stderr, "thinkv %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "thinkv: unknown command %q\n", args[0])
	usage(stderr)
	return 2
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
