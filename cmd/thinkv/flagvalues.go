package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// repeatable marks flag values that collect every occurrence.
type repeatable interface{ repeatable() }

// guarded marks values already wrapped by guardRepeats.
type guarded interface{ guarded() }

// onceValue refuses a second Set; aliases share first.
type onceValue struct {
	flag.Value
	first *string // the first value given, "" until then
}

func (o *onceValue) guarded()           {}
func (o *onceValue) unwrap() flag.Value { return o.Value }

func (o *onceValue) Set(s string) error {
	if *o.first != "" {
		return fmt.Errorf("given twice (%s, then %s)", *o.first, strconv.Quote(s))
	}
	*o.first = strconv.Quote(s)
	return o.Value.Set(s)
}

type onceBool struct{ *onceValue }

func (onceBool) IsBoolFlag() bool { return true }

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
func (m *multiFlag) repeatable()        {}

// intFlag is an integer flag that also takes exact integers in exponent
// notation (1e6), within [lo, hi].
type intFlag struct {
	v      *int
	lo, hi int
}

func (f intFlag) String() string {
	if f.v == nil {
		return "0"
	}
	return strconv.Itoa(*f.v)
}

func (f intFlag) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		x, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<62 {
			return fmt.Errorf("%q is not an integer", s)
		}
		n = int64(x)
	}
	if n < int64(f.lo) || n > int64(f.hi) {
		return fmt.Errorf("%d is out of range [%d, %d]", n, f.lo, f.hi)
	}
	*f.v = int(n)
	return nil
}

// intVar defines an intFlag.
func (fs *flagSet) intVar(p *int, name string, def, lo, hi int, usage string) {
	*p = def
	fs.Var(intFlag{p, lo, hi}, name, usage)
}

// floatFlag is a float flag that must be finite and within [lo, hi].
type floatFlag struct {
	v      *float64
	lo, hi float64
}

func (f floatFlag) String() string {
	if f.v == nil {
		return "0"
	}
	return strconv.FormatFloat(*f.v, 'g', -1, 64)
}

func (f floatFlag) Set(s string) error {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Errorf("%q is not a finite number", s)
	}
	if x < f.lo || x > f.hi {
		return fmt.Errorf("%v is out of range [%v, %v]", x, f.lo, f.hi)
	}
	*f.v = x
	return nil
}

// floatVar defines a floatFlag.
func (fs *flagSet) floatVar(p *float64, name string, def, lo, hi float64, usage string) {
	*p = def
	fs.Var(floatFlag{p, lo, hi}, name, usage)
}
