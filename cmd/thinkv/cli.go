package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// A usageError is a mistake in the command line rather than a failure to do
// the work: run prints it with the command's synopsis and exits 2.
type usageError struct {
	err error
	fs  *flagSet // the command whose synopsis to show; nil: just name it
}

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// usagef makes a usageError.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...), nil} }

// helpRequest is returned for -h or --help: run prints the flags and exits 0.
type helpRequest struct{ fs *flagSet }

func (helpRequest) Error() string { return "help requested" }

// flagSet is a command's flags. Beyond the standard library's flag.FlagSet it
// gives flags a short alias (-c and --ctx), lets flags come after positional
// arguments, refuses a scalar flag given twice, and reports mistakes as
// usageErrors.
type flagSet struct {
	*flag.FlagSet
	synopsis string
	short    map[string]string // long name → its one-letter alias
}

// newFlags makes a command's flag set; synopsis follows "thinkv NAME" in the usage.
func newFlags(name, synopsis string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), synopsis: synopsis, short: map[string]string{}}
	fs.SetOutput(io.Discard) // run prints errors once, with the synopsis
	return fs
}

// usagef makes a usageError that shows this command's synopsis.
func (fs *flagSet) usagef(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...), fs}
}

// alias makes -short another name for the flag long.
func (fs *flagSet) alias(long, short string) {
	f := fs.Lookup(long)
	fs.Var(f.Value, short, f.Usage)
	fs.short[long] = short
}

// parse parses flags and refuses positional arguments.
func (fs *flagSet) parse(args []string) error {
	pos, err := fs.parseArgs(args)
	if err == nil && len(pos) > 0 {
		err = fs.usagef("unexpected argument %q", pos[0])
	}
	return err
}

// parseArgs parses flags that may come before, between or after positional
// arguments, and returns the positional ones ("--" ends the flags).
func (fs *flagSet) parseArgs(args []string) ([]string, error) {
	fs.guardRepeats()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, helpRequest{fs}
			}
			return nil, usageError{flagError(err), fs}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// flagError rewrites the flag package's messages in the --long spelling
// the help uses: `invalid value "x" for flag -temp: …` becomes
// `--temp: invalid value "x": …`.
func flagError(err error) error {
	msg := err.Error()
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s: invalid value %s: %s", dashes(m[2]), m[1], m[3])
	}
	if m := undefinedFlag.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("unknown flag %s", dashes(m[1]))
	}
	if m := missingArg.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("flag %s needs a value", dashes(m[1]))
	}
	return err
}

var (
	invalidValue  = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for flag -(\S+): (.*)$`)
	undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(\S+)$`)
	missingArg    = regexp.MustCompile(`^flag needs an argument: -+(\S+)$`)
)

// dashes spells a flag name as the help does: -m, --ctx.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// isSet reports whether the flag (by either of its names) was given.
func (fs *flagSet) isSet(name string) bool {
	set := false
	short := fs.short[name]
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name || (short != "" && f.Name == short) })
	return set
}

// printUsage writes the synopsis and every flag, aliases together.
func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: thinkv %s %s\n\nflags:\n", fs.Name(), fs.synopsis)
	isShort := map[string]bool{}
	for _, s := range fs.short {
		isShort[s] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if isShort[f.Name] {
			return
		}
		names := dashes(f.Name)
		if s := fs.short[f.Name]; s != "" {
			names = "-" + s + ", " + names
		}
		typ, usage := valueName(f)
		if typ != "" {
			names += " " + typ
		}
		fmt.Fprintf(w, "  %s\n    \t%s", names, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "[]" {
			fmt.Fprintf(w, " (default %s)", d)
		}
		fmt.Fprintln(w)
	})
}

// valueName returns the name of a flag's value for the help (a back-quoted
// word in its usage, else its type) and the usage without the quotes.
func valueName(f *flag.Flag) (string, string) {
	plain := *f
	if o, ok := f.Value.(interface{ unwrap() flag.Value }); ok {
		plain.Value = o.unwrap()
	}
	name, usage := flag.UnquoteUsage(&plain)
	if name == "value" {
		switch plain.Value.(type) {
		case intFlag:
			name = "int"
		case floatFlag:
			name = "float"
		default:
			name = "string"
		}
	}
	return name, usage
}

// guardRepeats wraps every flag so that a second value for a scalar flag
// (under either of its names) is an error instead of silently winning.
func (fs *flagSet) guardRepeats() {
	seen := map[flag.Value]*string{}
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(repeatable); ok {
			return
		}
		if _, done := f.Value.(guarded); done {
			return
		}
		first, ok := seen[f.Value]
		if !ok {
			first = new(string)
			seen[f.Value] = first
		}
		g := &onceValue{Value: f.Value, first: first}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			f.Value = &onceBool{g}
		} else {
			f.Value = g
		}
	})
}

// readPrompt returns the text of -p, or of the file -f names ("-": standard
// input); with neither, standard input when it is not a terminal.
func readPrompt(fs *flagSet, p, file string) (string, error) {
	switch {
	case fs.isSet("p") && file != "":
		return "", fs.usagef("give either -p or -f, not both")
	case file == "-":
		b, err := io.ReadAll(stdin)
		return string(b), err
	case file != "":
		b, err := os.ReadFile(file)
		return string(b), err
	case fs.isSet("p"):
		return p, nil
	case !stdinIsTerminal():
		// A prompt piped in; an empty one (/dev/null) is no prompt.
		b, err := io.ReadAll(stdin)
		if err != nil || len(b) > 0 {
			return string(b), err
		}
	}
	return "", fs.usagef("no prompt: give -p TEXT, -f FILE, or -f - for standard input")
}
