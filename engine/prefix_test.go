package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// agnostic is the reference for a request on a prefix: the document
// prefilled and compressed, then the question run through that cache
// uncompressed and greedy decoding, all on one sequence.
func agnostic(t *testing.T, e *Engine, doc, question []int, spec string, maxNew int) []int {
	t.Helper()
	c, s, err := e.NewSequence(len(doc), len(doc)+len(question)+maxNew, kvcache.F16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Prefill(s, c, doc, mustPress(t, spec)); err != nil {
		t.Fatal(err)
	}
	logits, err := e.Model.Forward(s, c, question, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for len(out) < maxNew {
		next := Argmax(logits)
		out = append(out, next)
		if e.Tok.IsEOG(next) || next == e.Tok.BOS() || len(out) == maxNew {
			break
		}
		if logits, err = e.Decode(s, c, next, nil); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestPrefixRequests checks requests that go on from a compressed document:
// the same tokens as compressing and asking on one sequence, from the cache
// in memory and from its file; the prefix unchanged after several requests
// ran on it at once; a file for another model or a corrupt one refused.
func TestPrefixRequests(t *testing.T) {
	e := loadNeedle(t)
	rng := rand.New(rand.NewPCG(11, 11))
	doc := promptOf(e, "One of the special magic numbers for quiet-harbor is: 4417214. ", 600, rng)
	questions := [][]int{
		e.Tok.Encode("What is the special magic number for quiet-harbor?", false),
		e.Tok.Encode("The grass is green.", false),
		e.Tok.Encode("The special magic number for quiet-harbor mentioned in the provided text is", false),
	}
	const spec, maxNew = "snapkv:budget=128+think:ratio=0.5", 24
	prefix, err := e.PrefillCache(doc, mustPress(t, spec), kvcache.F16)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "doc.kv")
	if err := e.SaveCache(path, prefix); err != nil {
		t.Fatal(err)
	}
	loaded, err := e.LoadCache(path)
	if err != nil {
		t.Fatal(err)
	}
	held := prefix.HeldBytes()
	s := e.NewScheduler(SchedulerConfig{})
	defer s.Close()
	for _, from := range []*kvcache.Cache{prefix, loaded} {
		var streams []*Stream
		for _, q := range questions {
			st, err := s.Submit(context.Background(), Request{Prompt: q, MaxNew: maxNew, Prefix: from})
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, st)
		}
		for i, st := range streams {
			got, err := Collect(st, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := agnostic(t, e, doc, questions[i], spec, maxNew); !slices.Equal(got.Tokens, want) {
				t.Errorf("question %d: %v on the prefix, %v on one sequence", i, got.Tokens, want)
			}
		}
	}
	if prefix.HeldBytes() != held || prefix.Next() != len(doc) {
		t.Errorf("the prefix changed: %d bytes at %d, was %d at %d", prefix.HeldBytes(), prefix.Next(), held, len(doc))
	}
	// Generate takes a prefix too, and refuses a press with it.
	if _, err := e.Generate(Request{Prompt: questions[0], MaxNew: 4, Prefix: loaded, Press: mustPress(t, spec)}); err == nil {
		t.Error("a press on a prefix was accepted")
	}
	// Another model's file, and a corrupt file.
	other := loadStories(t, 512)
	if _, err := other.LoadCache(path); !errors.Is(err, kvcache.ErrIdentity) {
		t.Errorf("stories260K loaded needle's cache: %v", err)
	}
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0x10
	bad := filepath.Join(t.TempDir(), "bad.kv")
	os.WriteFile(bad, b, 0o644)
	if _, err := e.LoadCache(bad); err == nil {
		t.Error("a corrupt cache file loaded")
	}
}
