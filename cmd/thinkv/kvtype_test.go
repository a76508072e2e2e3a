package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// kvTypes are the storage types a --kv-type flag takes.
var kvTypes = []kvcache.DType{kvcache.F16, kvcache.F32, kvcache.Q8_0, kvcache.Q4_0}

// TestKVTypeHelp checks that every command's --kv-type help names all four
// storage types, each a name --kv-type parses, and that a fifth type added
// to kvcache would fail here until the help names it too.
func TestKVTypeHelp(t *testing.T) {
	for d := kvcache.DType(0); ; d++ {
		if _, err := kvcache.ParseDType(d.String()); err != nil {
			if int(d) != len(kvTypes) {
				t.Fatalf("kvcache has %d storage types, the help names %d", d, len(kvTypes))
			}
			break
		}
	}
	for _, cmd := range [][]string{{"generate"}, {"chat"}, {"serve"}, {"bench"}, {"eval"}, {"eval", "fidelity"}} {
		out, errOut, code := thinkv(t, append(cmd, "--help")...)
		if code != 0 {
			t.Fatalf("%v --help: exit %d: %s", cmd, code, errOut)
		}
		_, help, ok := strings.Cut(out, "--kv-type string\n")
		help, _, _ = strings.Cut(help, "\n")
		if !ok {
			t.Fatalf("%v --help has no --kv-type:\n%s", cmd, out)
		}
		for _, typ := range kvTypes {
			if !regexp.MustCompile(`\b` + typ.String() + `\b`).MatchString(help) {
				t.Errorf("%v: --kv-type help %q does not name %s", cmd, help, typ)
			}
		}
	}
}

// TestInfoKVBytes checks info's bytes per token for every type against the
// closed form on stories260K (5 layers, 4 KV heads, head_dim 8): a key and
// a value row per layer and KV head, 2·8 bytes in f16, 4·8 in f32, and one
// whole 32-value block in q8_0 (34 bytes) and q4_0 (18 bytes), so q8_0
// takes more than f16 on a model this narrow.
func TestInfoKVBytes(t *testing.T) {
	bin, tok, _ := stories(t)
	out, errOut, code := thinkv(t, "info", "-m", bin, "-t", tok)
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, errOut)
	}
	for typ, row := range map[string]int{"f16": 16, "f32": 32, "q8_0": 34, "q4_0": 18} {
		want := fmt.Sprintf("kv bytes/token (%s):", typ)
		line := regexp.MustCompile(regexp.QuoteMeta(want) + ` +(\d+)\n`).FindStringSubmatch(out)
		if line == nil || line[1] != fmt.Sprint(5*4*2*row) {
			t.Errorf("info lacks %q %d:\n%s", want, 5*4*2*row, out)
		}
	}
}
