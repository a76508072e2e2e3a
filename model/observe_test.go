package model_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// TestExtendObservation observes a 203-token prompt whole and in chunks
// extended one after the other (chunks shorter and longer than the window,
// a first chunk shorter than the window): after the last chunk the window's
// queries are bit-identical to the whole prompt's, column sums are gone, and
// extending an observation that is not complete, or to no longer a prompt,
// is an error.
func TestExtendObservation(t *testing.T) {
	m := loadStories(t, false)
	pool := kernels.NewPool(0)
	prompt := textTokens(203, m.Vocab, 3)
	for _, window := range []int{16, 50} {
		want := &kvcache.Observation{Window: window}
		if _, err := m.Forward(m.NewState(pool, 64), newCache(t, m, 256), prompt, false, want); err != nil {
			t.Fatal(err)
		}
		for _, chunks := range [][]int{{10, 7}, {64, 64}, {5, 100}, {203, 1}} {
			what := fmt.Sprintf("window %d, first chunk %d then %d", window, chunks[0], chunks[1])
			c, s := newCache(t, m, 256), m.NewState(pool, 64)
			obs := &kvcache.Observation{Window: window, Prompt: chunks[0], WantColSums: true}
			for end := chunks[0]; ; end = min(len(prompt), end+chunks[1]) {
				if _, err := m.Forward(s, c, prompt[c.Next():end], false, obs); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if end == len(prompt) {
					break
				}
				if err := m.ExtendObservation(obs, min(len(prompt), end+chunks[1])); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if obs.WantColSums || obs.ColSums != nil {
					t.Fatalf("%s: column sums still gathered after the first chunk", what)
				}
			}
			for l := range want.Queries {
				if i := sameBits(obs.Queries[l], want.Queries[l]); i >= 0 {
					t.Fatalf("%s: layer %d query value %d differs from the whole prompt's", what, l, i)
				}
			}
		}
	}
	obs := &kvcache.Observation{Window: 8, Prompt: 20}
	if _, err := m.Forward(m.NewState(pool, 64), newCache(t, m, 256), prompt[:10], false, obs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prompt int
		want   string
	}{{30, "once complete"}} {
		if err := m.ExtendObservation(obs, tc.prompt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("extending a half-observed prompt: %v, want %q", err, tc.want)
		}
	}
	obs.Prompt = 10 // as if the first chunk were the prompt: complete
	for _, p := range []int{10, 9, m.Context + 1} {
		if err := m.ExtendObservation(obs, p); err == nil || !strings.Contains(err.Error(), "cannot grow") {
			t.Errorf("extending a prompt of 10 to %d: %v", p, err)
		}
	}
}
