package press

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// param describes one key of a press spec.
type param struct {
	key      string
	def      string
	choices  []string // for string keys
	lo, hi   float64  // inclusive range for numeric keys
	integer  bool
	openHigh bool   // hi is exclusive
	loKey    string // the value may not be below this other key's (a budget includes its window)
	// quiet keys are left out of the spec at their default, so that specs
	// written before the key existed keep their canonical form.
	quiet bool
	// only, "key=value", makes this key apply only when that other key has
	// that value: otherwise giving it is an error and the spec leaves it out.
	only string
}

func (p param) String() string {
	def := "required"
	if p.def != "" {
		def = "default " + p.def
	}
	if p.choices != nil {
		return fmt.Sprintf("%s=%s (%s)", p.key, strings.Join(p.choices, "|"), def)
	}
	hi := "]"
	if p.openHigh {
		hi = ")"
	}
	kind := "number"
	if p.integer {
		kind = "integer"
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	lo := num(p.lo)
	if p.loKey != "" {
		lo = p.loKey
	}
	if p.only != "" {
		def += ", only with " + p.only
	}
	return fmt.Sprintf("%s=%s in [%s, %s%s (%s)", p.key, kind, lo, num(p.hi), hi, def)
}

// args is a parsed, validated set of key values.
type args map[string]string

func (a args) int(k string) int        { v, _ := strconv.Atoi(a[k]); return v }
func (a args) float(k string) float64  { v, _ := strconv.ParseFloat(a[k], 64); return v }
func (a args) str(k string) string     { return a[k] }
func (a args) has(k string) bool       { _, ok := a[k]; return ok }
func (a args) spec(name string) string { return name + ":" + a.join() }
func (a args) join() string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + a[k]
	}
	return strings.Join(keys, ",")
}

// kind is a named press type with its keys and constructor.
type kind struct {
	name   string
	doc    string
	params []param
	build  func(a args) (policy, error)
}

const maxTokens = 1 << 24

var kinds = []kind{
	{name: "snapkv", doc: "SnapKV: keep the tokens the observation window attends to most",
		params: []param{budgetAtLeast("window"), windowParam,
			{key: "kernel", def: "7", lo: 1, hi: 1023, integer: true}, {key: "pool", def: "max", choices: []string{"max", "avg"}}},
		build: func(a args) (policy, error) { return newSnapKV(a, false) }},
	{name: "pyramidkv", doc: "PyramidKV: SnapKV with budgets falling linearly with depth",
		params: []param{budgetAtLeast("window"), windowParam,
			{key: "beta", def: "20", lo: 1, hi: 1e6}, {key: "kernel", def: "7", lo: 1, hi: 1023, integer: true},
			{key: "pool", def: "max", choices: []string{"max", "avg"}}},
		build: func(a args) (policy, error) { return newSnapKV(a, true) }},
	{name: "h2o", doc: "H2O: heavy hitters by accumulated attention, plus the most recent tokens",
		params: []param{budgetAtLeast("recent"), {key: "recent", def: "32", lo: 0, hi: maxTokens, integer: true}},
		build:  newH2O},
	{name: "streaming", doc: "StreamingLLM: attention sinks plus a window of recent tokens",
		params: []param{{key: "sink", def: "4", lo: 0, hi: maxTokens, integer: true}, {key: "recent", def: "", lo: 1, hi: maxTokens, integer: true}},
		build:  newStreaming},
	{name: "think", doc: "ThinK: prune the key channels the observation window needs least" + adaptiveDoc + blockDoc,
		params: thinkParams,
		build:  func(a args) (policy, error) { return newThinK(a, false) }},
	{name: "think-v", doc: "ThinK for values: prune the value channels contributing least to the window's attention output" + adaptiveDoc + blockDoc,
		params: thinkParams,
		build:  func(a args) (policy, error) { return newThinK(a, true) }},
}

// thinkParams are the keys of think and think-v. With adaptive=1 a layer
// keeps as many channels as uniform ThinK (the same bytes), shared out
// between its KV heads by their normalised scores, each head keeping at
// least floor·T of them (T = the channels uniform ThinK keeps per head).
// The default floor, 0.2, is AdaKV's safeguard for its per-head token budgets.
var thinkParams = []param{{key: "ratio", def: "", lo: 0, hi: 1, openHigh: true}, {key: "recent", def: "32", lo: 0, hi: maxTokens, integer: true}, windowParam, packParam,
	{key: "adaptive", def: "0", lo: 0, hi: 1, integer: true, quiet: true},
	{key: "floor", def: "0.2", lo: 0, hi: 1, only: "adaptive=1"}}

const adaptiveDoc = "; adaptive=1 shares each layer's kept channels between its heads by normalised score" +
	" (same bytes), floor = the fewest a head keeps, as a fraction of uniform ThinK's count"

// blockDoc says how ThinK meets a cache stored in blocks (keptChannels).
const blockDoc = "; with --kv-type q8_0 or q4_0 the kept channels are rounded up to whole 32-channel blocks" +
	" (a row is padded to whole blocks anyway: a head of 32 channels or fewer keeps all), adaptive budgets shared in blocks"

var windowParam = param{key: "window", def: "32", lo: 1, hi: 4096, integer: true}

// packParam is how many decoded tokens ThinK lets pass between packings of
// the tokens that left the recent window (0: decoded tokens stay full width).
var packParam = param{key: "pack", def: "32", lo: 0, hi: maxTokens, integer: true}

// budgetAtLeast is a required token budget that includes the tokens of key.
func budgetAtLeast(key string) param {
	return param{key: "budget", lo: 1, hi: maxTokens, integer: true, loKey: key}
}

// Help describes every press and its keys, one press per line.
func Help() string {
	var b strings.Builder
	b.WriteString("none: the full cache (alone, never in a chain)\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "%s: %s\n", k.name, k.doc)
		for _, p := range k.params {
			fmt.Fprintf(&b, "    %s\n", p)
		}
	}
	return b.String()
}

func names() string {
	n := []string{"none"}
	for _, k := range kinds {
		n = append(n, k.name)
	}
	return strings.Join(n, ", ")
}

// Parse parses a press spec: presses joined by "+", each NAME or NAME:key=value,…
// "none" or "" is the full cache (a nil Press).
func Parse(spec string) (Press, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return nil, nil
	}
	var parts []policy
	for _, s := range strings.Split(spec, "+") {
		if s = strings.TrimSpace(s); s == "none" {
			return nil, fmt.Errorf("press %q: none is the full cache and stands alone: drop it from the chain", spec)
		}
		p, err := parseOne(s)
		if err != nil {
			return nil, fmt.Errorf("press %q: %w", spec, err)
		}
		parts = append(parts, p)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return newComposed(parts)
}

func parseOne(s string) (policy, error) {
	name, rest, _ := strings.Cut(s, ":")
	var k *kind
	for i := range kinds {
		if kinds[i].name == name {
			k = &kinds[i]
		}
	}
	if k == nil {
		return nil, fmt.Errorf("unknown press %q (valid: %s)", name, names())
	}
	valid := func() string {
		var v []string
		for _, p := range k.params {
			v = append(v, p.String())
		}
		return strings.Join(v, "; ")
	}
	a := args{}
	if rest != "" {
		for _, kv := range strings.Split(rest, ",") {
			key, val, ok := strings.Cut(kv, "=")
			key, val = strings.TrimSpace(key), strings.TrimSpace(val)
			if !ok || key == "" || val == "" {
				return nil, fmt.Errorf("%s: %q is not key=value (valid keys: %s)", name, kv, valid())
			}
			if a.has(key) {
				return nil, fmt.Errorf("%s: key %q given twice", name, key)
			}
			a[key] = val
		}
	}
	for key := range a {
		found := false
		for _, p := range k.params {
			found = found || p.key == key
		}
		if !found {
			return nil, fmt.Errorf("%s: unknown key %q (valid: %s)", name, key, valid())
		}
	}
	given := map[string]bool{}
	for key := range a {
		given[key] = true
	}
	for _, p := range k.params {
		v, ok := a[p.key]
		if !ok {
			if p.def == "" {
				return nil, fmt.Errorf("%s: missing required key %q (valid: %s)", name, p.key, valid())
			}
			a[p.key] = p.def
			continue
		}
		if err := p.check(v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := a.prune(k.params, given); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, p := range k.params {
		if p.loKey != "" && a.float(p.key) < a.float(p.loKey) {
			return nil, fmt.Errorf("%s: %s=%s is below %s=%s: the %s includes the %s", name, p.key, a[p.key], p.loKey, a[p.loKey], p.key, p.loKey)
		}
	}
	p, err := k.build(a)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func (p param) check(v string) error {
	if p.choices != nil {
		for _, c := range p.choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("%s=%s: want one of %s", p.key, v, strings.Join(p.choices, ", "))
	}
	f, err := strconv.ParseFloat(v, 64)
	bad := err != nil || math.IsNaN(f) || f < p.lo || f > p.hi || (p.openHigh && f == p.hi)
	if p.integer {
		_, err := strconv.Atoi(v)
		bad = bad || err != nil
	}
	if bad {
		return fmt.Errorf("%s=%s out of range: want %s", p.key, v, p)
	}
	return nil
}

// prune drops the keys that do not apply: a key given only with another
// key's value (an error if given without it), and quiet keys at their
// default. The spec then leaves them out; their default still applies.
func (a args) prune(params []param, given map[string]bool) error {
	for _, p := range params {
		if p.only == "" {
			continue
		}
		key, val, _ := strings.Cut(p.only, "=")
		if same(a[key], val) {
			continue
		}
		if given[p.key] {
			return fmt.Errorf("%s=%s applies only with %s", p.key, a[p.key], p.only)
		}
		delete(a, p.key)
	}
	for _, p := range params {
		if p.quiet && a.has(p.key) && same(a[p.key], p.def) {
			delete(a, p.key)
		}
	}
	return nil
}

// same reports whether two values are equal, as numbers when both are.
func same(x, y string) bool {
	fx, ex := strconv.ParseFloat(x, 64)
	fy, ey := strconv.ParseFloat(y, 64)
	if ex == nil && ey == nil {
		return fx == fy
	}
	return x == y
}
