package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/model"
)

// benchJSON runs thinkv bench --json and decodes its report.
func benchJSON(t *testing.T, args ...string) benchReport {
	t.Helper()
	out, errOut, code := thinkv(t, append([]string{"bench", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("bench %v: exit %d: %s", args, code, errOut)
	}
	var r benchReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench %v: %v\n%s", args, err, out)
	}
	return r
}

// stories260K returns the shared stories260K GGUF and its cache's bytes per
// token in closed form: layers · KV heads · 2 (key and value) · head
// dimension · element size.
func stories260K(t *testing.T, elem int64) (string, int64) {
	t.Helper()
	path := sharedtest.Dir(t) + "/models/stories260K/stories260K.gguf"
	m, _, err := model.Load(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return path, int64(m.Config.Layers) * int64(m.KVHeads) * 2 * int64(m.HeadDim) * elem
}

func TestBenchReport(t *testing.T) {
	path, tokenBytes := stories260K(t, 2)
	r := benchJSON(t, "-m", path, "-p", "16", "-n", "8", "-r", "2", "--depth", "32,0", "--threads", "2")
	if r.Threads != 2 || r.Reps != 2 || r.KVType != "f16" || r.Press != "none" || r.Type != "F32" {
		t.Errorf("threads %d, reps %d, kv %q, press %q, type %q: want 2, 2, f16, none, F32", r.Threads, r.Reps, r.KVType, r.Press, r.Type)
	}
	if r.Tier == "" || r.Params != 260032 || r.SizeBytes <= 0 || r.PeakRSS <= 0 || r.Bandwidth <= 0 {
		t.Errorf("tier %q, params %d, size %d, peak RSS %d, bandwidth %v", r.Tier, r.Params, r.SizeBytes, r.PeakRSS, r.Bandwidth)
	}
	// An untied head is read whole, the embedding one row per token: less
	// than all the weights, more than the layers alone.
	if r.WeightRead <= 0 || r.WeightRead > r.SizeBytes {
		t.Errorf("weights read per token %d, model size %d", r.WeightRead, r.SizeBytes)
	}
	if r.TokenBytes != tokenBytes {
		t.Errorf("kv_token_bytes %d, want %d", r.TokenBytes, tokenBytes)
	}
	want := []struct {
		name         string
		kind         string
		tokens, held int
	}{{"pp16", "pp", 16, 16}, {"tg8", "tg", 8, 8}, {"pp16 @ d32", "pp", 16, 48}, {"tg8 @ d32", "tg", 8, 40}}
	if len(r.Tests) != len(want) {
		t.Fatalf("%d tests, want %d: %+v", len(r.Tests), len(want), r.Tests)
	}
	for i, w := range want {
		tc := r.Tests[i]
		if tc.Name != w.name || tc.Kind != w.kind || tc.Tokens != w.tokens || len(tc.Samples) != 2 {
			t.Errorf("test %d: %q %s %d tokens, %d samples; want %q %s %d, 2", i, tc.Name, tc.Kind, tc.Tokens, len(tc.Samples), w.name, w.kind, w.tokens)
		}
		for _, s := range tc.Samples {
			if !(s > 0) {
				t.Errorf("%s: sample rate %v", tc.Name, s)
			}
		}
		if !(tc.Mean > 0) || !(tc.SD >= 0) {
			t.Errorf("%s: %v ± %v t/s", tc.Name, tc.Mean, tc.SD)
		}
		// A full cache holds exactly TokenBytes per token it was asked to hold.
		if tc.KVTokens != w.held || tc.KVBytes != tokenBytes*int64(w.held) || tc.KVBytesFull != tc.KVBytes {
			t.Errorf("%s: %d bytes (full %d) for %d tokens; want %d tokens, %d bytes", tc.Name, tc.KVBytes, tc.KVBytesFull, tc.KVTokens, w.held, tokenBytes*int64(w.held))
		}
		if tc.Kind == "tg" && (!(tc.Roofline > 0) || !(tc.Fraction > 0) || tc.KVReadBytes <= 0) {
			t.Errorf("%s: roofline %v, fraction %v, cache read %d", tc.Name, tc.Roofline, tc.Fraction, tc.KVReadBytes)
		}
		// Attention's own time: measured in decode steps only, and a part
		// of each (a sample s is a rate of whole steps, 1000/s ms a token).
		var stepMS float64
		for _, s := range tc.Samples {
			stepMS += 1000 / s / float64(len(tc.Samples))
		}
		if tc.Kind == "tg" && !(tc.AttentionMS > 0 && tc.AttentionMS < stepMS) {
			t.Errorf("%s: attention %v ms per token, a step %v ms", tc.Name, tc.AttentionMS, stepMS)
		}
		if tc.Kind == "pp" && tc.AttentionMS != 0 {
			t.Errorf("%s: attention %v ms per token in a prefill", tc.Name, tc.AttentionMS)
		}
	}
	// Attention's share comes from the difference with depth 0: only for
	// decode at depth > 0.
	if r.Tests[1].AttentionShare != nil || r.Tests[2].AttentionShare != nil || r.Tests[3].AttentionShare == nil {
		t.Errorf("attention share at depth 0 %v, prefill at depth 32 %v, decode at depth 32 %v: want none, none, one",
			r.Tests[1].AttentionShare, r.Tests[2].AttentionShare, r.Tests[3].AttentionShare)
	} else if s := *r.Tests[3].AttentionShare; s != 1-r.Tests[3].Mean/r.Tests[1].Mean {
		t.Errorf("attention share %v, want 1 − %v/%v", s, r.Tests[3].Mean, r.Tests[1].Mean)
	}
}

// TestBenchPressAndKVType checks that --press shrinks the cache below the
// closed form of a full one and --kv-type f32 doubles the bytes per token.
func TestBenchPressAndKVType(t *testing.T) {
	path, tokenBytes := stories260K(t, 4)
	r := benchJSON(t, "-m", path, "-p", "0", "-n", "4", "-r", "1", "--depth", "64", "--kv-type", "f32",
		"--press", "streaming:sink=4,recent=12", "--threads", "1")
	if len(r.Tests) != 1 || r.TokenBytes != tokenBytes || r.KVType != "f32" || !strings.HasPrefix(r.Press, "streaming") {
		t.Fatalf("tests %+v, token bytes %d (want %d), kv %q, press %q", r.Tests, r.TokenBytes, tokenBytes, r.KVType, r.Press)
	}
	tc := r.Tests[0]
	if tc.Name != "tg4 @ d64" || tc.SD != 0 || tc.KVTokens != 68 || tc.KVBytesFull != 68*tokenBytes {
		t.Errorf("%q: sd %v, %d tokens, full %d bytes; want tg4 @ d64, 0, 68, %d", tc.Name, tc.SD, tc.KVTokens, tc.KVBytesFull, 68*tokenBytes)
	}
	if tc.KVBytes <= 0 || tc.KVBytes >= tc.KVBytesFull/2 {
		t.Errorf("a cache of 16 of 68 tokens holds %d bytes, full %d", tc.KVBytes, tc.KVBytesFull)
	}
	if tc.AttentionShare != nil {
		t.Errorf("attention share %v without depth 0", *tc.AttentionShare)
	}
}

// TestBenchPresses checks that --press given twice runs every test with
// each press: a test per press, in the order given, each with its own cache
// bytes, and each press's attention share against its own depth-0 decode.
func TestBenchPresses(t *testing.T) {
	path, tokenBytes := stories260K(t, 2)
	r := benchJSON(t, "-m", path, "-p", "8", "-n", "4", "-r", "2", "--depth", "0,60", "--threads", "1",
		"--press", "none", "--press", "streaming:sink=4,recent=12")
	stream := "streaming:recent=12,sink=4"
	if r.Press != "none | "+stream {
		t.Errorf("press %q, want %q", r.Press, "none | "+stream)
	}
	want := []struct{ name, press string }{
		{"pp8", "none"}, {"pp8", stream}, {"tg4", "none"}, {"tg4", stream},
		{"pp8 @ d60", "none"}, {"pp8 @ d60", stream}, {"tg4 @ d60", "none"}, {"tg4 @ d60", stream},
	}
	if len(r.Tests) != len(want) {
		t.Fatalf("%d tests, want %d: %+v", len(r.Tests), len(want), r.Tests)
	}
	for i, w := range want {
		tc := r.Tests[i]
		if tc.Name != w.name || tc.Press != w.press || len(tc.Samples) != 2 {
			t.Errorf("test %d: %q with %q, %d samples; want %q with %q, 2", i, tc.Name, tc.Press, len(tc.Samples), w.name, w.press)
		}
	}
	if full, pressed := r.Tests[6], r.Tests[7]; full.KVBytes != 64*tokenBytes || pressed.KVBytes >= full.KVBytes/2 {
		t.Errorf("at depth 60: %d bytes without a press (want %d), %d with streaming", full.KVBytes, 64*tokenBytes, pressed.KVBytes)
	}
	for i := 6; i < 8; i++ {
		tc, base := r.Tests[i], r.Tests[i-4]
		if tc.AttentionShare == nil || *tc.AttentionShare != 1-tc.Mean/base.Mean {
			t.Errorf("%s [%s]: attention share %v, want 1 − %v/%v", tc.Name, tc.Press, tc.AttentionShare, tc.Mean, base.Mean)
		}
	}
}

func TestBenchTable(t *testing.T) {
	path, _ := stories260K(t, 2)
	out, errOut, code := thinkv(t, "bench", "-m", path, "-p", "8", "-n", "4", "-r", "1", "-d", "0,8", "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{"model", "size", "params", "type", "threads", "test", "t/s",
		"pp8", "tg4", "tg4 @ d8", "llama 260K", "read bandwidth", "roofline", "attention share", "ms per token", "peak RSS", "kernels"} {
		if !strings.Contains(out, s) {
			t.Errorf("the table lacks %q:\n%s", s, out)
		}
	}
}

func TestBenchErrors(t *testing.T) {
	path, _ := stories260K(t, 2)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-p", "8"}, 2, "no model"},
		{[]string{"-m", path, "-r", "0"}, 2, "-r"},
		{[]string{"-m", path, "-p", "-1"}, 2, "-p"},
		{[]string{"-m", path, "-p", "0", "-n", "0"}, 2, "nothing to run"},
		{[]string{"-m", path, "--depth", "0,x"}, 2, "--depth"},
		{[]string{"-m", path, "--depth", "-4"}, 2, "--depth"},
		{[]string{"-m", path, "--kv-type", "q9"}, 2, "--kv-type"},
		{[]string{"-m", path, "--press", "bogus"}, 2, "--press"},
		{[]string{"-m", path, "--threads", "0"}, 2, "--threads"},
		{[]string{"-m", path, "-r", "1", "-r", "2"}, 2, "twice"},
		{[]string{"-m", path, "extra"}, 2, "unexpected argument"},
		// stories260K's GGUF says its context is 128 tokens.
		{[]string{"-m", path, "-p", "8", "-n", "8", "--depth", "124"}, 1, "context of 128"},
		{[]string{"-m", path + ".missing"}, 1, "missing"},
	} {
		_, errOut, code := thinkv(t, append([]string{"bench"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("bench %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

func TestParseDepths(t *testing.T) {
	got, err := parseDepths("4096, 0,512,0")
	if err != nil || len(got) != 3 || got[0] != 0 || got[1] != 512 || got[2] != 4096 {
		t.Errorf("parseDepths: %v, %v; want [0 512 4096]", got, err)
	}
	for _, s := range []string{"", "1,,2", "a", "-1", "1.5"} {
		if _, err := parseDepths(s); err == nil {
			t.Errorf("parseDepths(%q) accepted", s)
		}
	}
}

func TestMeanSD(t *testing.T) {
	m, sd := meanSD([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	// Sample standard deviation (n − 1), as llama-bench reports.
	if m != 5 || sd < 2.138 || sd > 2.139 {
		t.Errorf("meanSD: %v ± %v, want 5 ± 2.138", m, sd)
	}
	if m, sd := meanSD([]float64{3}); m != 3 || sd != 0 {
		t.Errorf("one sample: %v ± %v", m, sd)
	}
}

func TestSum64(t *testing.T) {
	s := make([]uint64, 1003)
	for i := range s {
		s[i] = uint64(i * i)
	}
	for _, n := range []int{0, 1, 7, 8, 9, 1003} {
		var w uint64
		for _, x := range s[:n] {
			w += x
		}
		if got := sum64(s[:n]); got != w {
			t.Errorf("sum64 of %d: %d, want %d", n, got, w)
		}
	}
}
