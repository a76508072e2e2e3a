package eval

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

var (
	anyUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	v4UUID  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)
)

// skeleton replaces uuids by <U> and collapses runs of equal lines, leaving
// the layout of a niah_multikey_3 prompt: header, one haystack line, question.
func skeleton(s string) string {
	lines := strings.Split(anyUUID.ReplaceAllString(s, "<U>"), "\n")
	return strings.Join(slices.Compact(lines), "\n")
}

// TestRulerLayoutMatchesJSONL generates niah_multikey_3 and compares it with
// the RULER samples in the shared jsonl (KVCache-Factory, Llama-3 tokens):
// the same template around the haystack, the same needle sentence, question
// and answer prefix, the same split; only the uuids and the count differ.
func TestRulerLayoutMatchesJSONL(t *testing.T) {
	ref := &RulerJSONL{Path: sharedtest.Path(t, "data/ruler_kvcache_factory/niah_multikey_3_4096.jsonl")}
	tok := sharedLlama2Tok(t)
	want, err := ref.Samples(tok, Options{Samples: 20})
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&Ruler{Task: "niah_multikey_3"}).Samples(tok, Options{Lengths: []int{4096}, Samples: 3, Seed: 42,
		DataDir: sharedtest.Path(t, "data/ruler_wordlists")})
	if err != nil {
		t.Fatal(err)
	}
	const layout = "A special magic uuid is hidden within the following text. Make sure to memorize it. I will quiz you about the uuid afterwards.\n" +
		"One of the special magic uuids for <U> is: <U>.\n" +
		"What is the special magic uuid for <U> mentioned in the provided text? The special magic uuid for <U> mentioned in the provided text is"
	for _, set := range [][]Sample{want, got} {
		for _, s := range set {
			in := s.Context + s.Question + s.AnswerPrefix
			if sk := skeleton(in); sk != layout {
				t.Fatalf("%s %s: layout\n%s\nwant\n%s", s.Task, s.ID, sk, layout)
			}
			if skeleton(s.Question) != "What is the special magic uuid for <U> mentioned in the provided text?" ||
				skeleton(s.AnswerPrefix) != " The special magic uuid for <U> mentioned in the provided text is" ||
				!strings.HasSuffix(s.Context, ".\n") {
				t.Errorf("%s %s: split %q | %q", s.Task, s.ID, s.Question, s.AnswerPrefix)
			}
			if n, v4 := len(anyUUID.FindAllString(in, -1)), len(v4UUID.FindAllString(in, -1)); n != v4 {
				t.Errorf("%s %s: %d of %d uuids are not version 4", s.Task, s.ID, n-v4, n)
			}
			key := anyUUID.FindString(s.Question)
			lines := strings.Split(s.Context, "\n")
			var hits []string
			for _, l := range lines {
				if strings.Contains(l, key) {
					hits = append(hits, l)
				}
			}
			if len(s.Answers) != 1 || len(hits) != 1 || hits[0] != fmt.Sprintf("One of the special magic uuids for %s is: %s.", key, s.Answers[0]) {
				t.Errorf("%s %s: the queried key's needle %q, answers %q", s.Task, s.ID, hits, s.Answers)
			}
			if len(lines) < 30 {
				t.Errorf("%s %s: only %d haystack lines", s.Task, s.ID, len(lines))
			}
			if s.MaxNew != 128 {
				t.Errorf("%s %s: MaxNew %d", s.Task, s.ID, s.MaxNew)
			}
		}
	}
	if n := promptLen(tok, got[0].Context+got[0].Question+got[0].AnswerPrefix); got[0].Length != 4096 || n+128 > 4096 || n+128 < 4096-70 {
		t.Errorf("generated length %d + 128 (Length %d), want close to 4096", n, got[0].Length)
	}
}

func TestRulerTasks(t *testing.T) {
	tok := sharedLlama2Tok(t)
	const L = 2048
	opts := Options{Lengths: []int{L}, Samples: 2, Seed: 3, DataDir: sharedtest.Path(t, "data/ruler_wordlists")}
	for _, name := range RulerTasks() {
		t.Run(name, func(t *testing.T) {
			task := &Ruler{Task: name}
			ss, err := task.Samples(tok, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != 2 || ss[0].Context == ss[1].Context {
				t.Fatalf("want 2 different samples, got %d", len(ss))
			}
			again, _ := task.Samples(tok, opts)
			one, _ := task.Samples(tok, Options{Lengths: opts.Lengths, Samples: 1, Seed: 3, DataDir: opts.DataDir})
			other, _ := task.Samples(tok, Options{Lengths: opts.Lengths, Samples: 1, Seed: 4, DataDir: opts.DataDir})
			if !reflect.DeepEqual(ss, again) || !reflect.DeepEqual(ss[:1], one) || other[0].Context == ss[0].Context {
				t.Error("samples are not a deterministic function of the seed and index")
			}
			fam := rulerConfigs[name].family
			for _, s := range ss {
				in := s.Context + s.Question + s.AnswerPrefix
				if n := promptLen(tok, in); s.Length != L || n+s.MaxNew > L || n+s.MaxNew < L*8/10 {
					t.Errorf("%s: %d prompt + %d new tokens (Length %d), want at most %d and close to it", s.ID, n, s.MaxNew, s.Length, L)
				}
				if s.MaxNew != rulerFamilies[fam].maxNew || s.Depth != -1 || s.Task != "ruler:"+name {
					t.Errorf("%s: fields %d %v %q", s.ID, s.MaxNew, s.Depth, s.Task)
				}
				if ctx, q, ap, ok := splitRuler(fam, in); !ok || ctx != s.Context || q != s.Question || ap != s.AnswerPrefix {
					t.Errorf("%s: the split does not round-trip", s.ID)
				}
				if task.Score(s, " "+strings.Join(s.Answers, ", ")+"\n") != 1 || task.Score(s, "") != 0 {
					t.Errorf("%s: Score of the answers is not 1", s.ID)
				}
				checkRuler(t, name, s)
			}
		})
	}
}

// checkRuler checks a sample's task-specific content.
func checkRuler(t *testing.T, name string, s Sample) {
	t.Helper()
	switch cfg := rulerConfigs[name]; cfg.family {
	case "niah":
		typ := cfg.valueType
		head, q, ap := "Some special magic "+typ+" are hidden", "What are all the special magic "+typ+" for ", " The special magic "+typ+" for "
		if cfg.numQ*cfg.numV == 1 {
			typ = typ[:len(typ)-1]
			head, q, ap = "A special magic "+typ+" is hidden", "What is the special magic "+typ+" for ", " The special magic "+typ+" for "
		}
		if !strings.HasPrefix(s.Context, head+" within the following text. Make sure to memorize it. I will quiz you about the "+typ+" afterwards.\n") ||
			!strings.HasPrefix(s.Question, q) || !strings.HasPrefix(s.AnswerPrefix, ap) {
			t.Errorf("%s: template: %.120q | %q | %q", s.ID, s.Context, s.Question, s.AnswerPrefix)
		}
		if len(s.Answers) != max(cfg.numV, cfg.numQ) {
			t.Errorf("%s: %d answers", s.ID, len(s.Answers))
		}
		for _, a := range s.Answers {
			if n := strings.Count(s.Context, "is: "+a+"."); n != 1 {
				t.Errorf("%s: answer %s in %d needles", s.ID, a, n)
			}
		}
		if cfg.numQ == 4 && (strings.Count(s.Question, ", ") != 3 || !strings.Contains(s.Question, ", and ")) {
			t.Errorf("%s: query list %q", s.ID, s.Question)
		}
	case "vt":
		main := s.Context[strings.LastIndex(s.Context, "Memorize and track"):]
		if !strings.HasPrefix(s.Context, "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\nThe grass") &&
			!strings.HasPrefix(s.Context, "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\nVAR") ||
			!strings.Contains(s.Context, ", they are:  ") || main == s.Context {
			t.Errorf("%s: no in-context example", s.ID)
		}
		assign := map[string]string{}
		for _, l := range strings.Split(main, "\n") {
			if v, rhs, ok := strings.Cut(strings.TrimPrefix(l, "VAR "), " = "); ok && strings.HasPrefix(l, "VAR ") {
				assign[v] = strings.TrimSpace(strings.TrimPrefix(rhs, "VAR "))
			}
		}
		value := strings.Fields(strings.TrimPrefix(s.Question, "Question: Find all variables that are assigned the value "))[0]
		var got []string
		for v, rhs := range assign {
			for rhs != value && assign[rhs] != "" {
				rhs = assign[rhs]
			}
			if rhs == value {
				got = append(got, v)
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(s.Answers))
		if !reflect.DeepEqual(got, want) || !strings.Contains(s.AnswerPrefix, "5 variables are assigned the value "+value+", they are: ") {
			t.Errorf("%s: chain from %s reaches %v, answers %v", s.ID, value, got, want)
		}
	case "cwe":
		main := s.Context[strings.LastIndex(s.Context, "Below is a numbered list"):]
		if !strings.Contains(s.Context[:len(s.Context)-len(main)], "Question: What are the 10 most common words in the above list? Answer: The top 10 words that appear most often in the list are: 1. ") {
			t.Errorf("%s: no answered example", s.ID)
		}
		for _, a := range s.Answers {
			if n := strings.Count(strings.ReplaceAll(main, "\n", " "), ". "+a+" "); n != 6 { // below 4096 tokens: 6 repeats
				t.Errorf("%s: common word %q appears %d times, want 6", s.ID, a, n)
			}
		}
	case "fwe":
		freq := map[string]int{}
		for _, w := range strings.Fields(s.Context[strings.Index(s.Context, "coded words. ")+13:]) {
			freq[w]++
		}
		a := s.Answers
		if len(a) != 3 || !(freq["..."] > freq[a[0]] && freq[a[0]] > freq[a[1]] && freq[a[1]] > freq[a[2]]) {
			t.Errorf("%s: frequencies ...:%d %v", s.ID, freq["..."], []int{freq[a[0]], freq[a[1]], freq[a[2]]})
		}
		for w, n := range freq {
			if !slices.Contains(a, w) && w != "..." && n >= freq[a[2]] {
				t.Errorf("%s: %q appears %d times, as often as an answer", s.ID, w, n)
			}
		}
	}
}

func TestRulerShortLengths(t *testing.T) {
	// stories260K's context is 512 tokens and its vocabulary has 512 pieces.
	tok := sharedTok512(t)
	ss, err := (&Ruler{Task: "niah_single_1"}).Samples(tok, Options{Lengths: []int{512}, DataDir: sharedtest.Path(t, "data")})
	if err != nil {
		t.Fatal(err)
	}
	if n := promptLen(tok, ss[0].Context+ss[0].Question+ss[0].AnswerPrefix); n+128 > 512 {
		t.Errorf("length %d + 128 > 512", n)
	}
	if _, err := (&Ruler{Task: "cwe"}).Samples(tok, Options{Lengths: []int{300}, DataDir: sharedtest.Path(t, "data")}); err == nil {
		t.Error("no error for a length too short for the task")
	}
}

func TestRulerScore(t *testing.T) {
	task := &Ruler{Task: "niah_multivalue"}
	s := Sample{Answers: []string{"1234567", "2345678", "3456789", "4567890"}}
	if got := task.Score(s, "1234567, 2345678\x003456789"); got != 0.75 {
		t.Errorf("Score = %v, want 3/4", got)
	}
	jq := &RulerJSONL{Path: "x/qa_2_4096.jsonl"}
	if got := jq.Score(Sample{Answers: []string{"Paris", "France"}}, "paris"); got != 1 {
		t.Errorf("qa string_match_part = %v", got)
	}
}

func TestRulerCWELong(t *testing.T) {
	// From 4096 tokens RULER repeats the 10 common words 30 times and the
	// others 3 times, after a 40-word example (10 and 3 repeats).
	ss, err := (&Ruler{Task: "cwe"}).Samples(sharedLlama2Tok(t), Options{Lengths: []int{4096}, DataDir: sharedtest.Path(t, "data")})
	if err != nil {
		t.Fatal(err)
	}
	s := ss[0]
	const head = "Memorize the ones that appear most often.\n"
	entries := func(list string) map[string]int {
		freq := map[string]int{}
		f := strings.Fields(list)
		for i := 0; i+1 < len(f); i += 2 {
			if f[i] != fmt.Sprintf("%d.", i/2+1) {
				t.Fatalf("entry %d is numbered %q", i/2+1, f[i])
			}
			freq[f[i+1]]++
		}
		return freq
	}
	main := entries(s.Context[strings.LastIndex(s.Context, head)+len(head):])
	for w, n := range main {
		if want := map[bool]int{true: 30, false: 3}[slices.Contains(s.Answers, w)]; n != want {
			t.Errorf("%q appears %d times, want %d", w, n, want)
		}
	}
	ex := s.Context[strings.Index(s.Context, head)+len(head):]
	ex = ex[:strings.Index(ex, "\n")]
	if n := len(entries(ex)); n != 40 {
		t.Errorf("the example has %d distinct words, want 40", n)
	}
}
