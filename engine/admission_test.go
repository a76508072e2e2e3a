package engine

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCompressedReservation checks that a request's reservation shrinks to
// press.MaxBytesAfterCompress once its prompt is compressed, and that the
// bytes freed admit a waiting request: with a budget of one full
// reservation plus one compressed one, two compressed requests run at once,
// two uncompressed ones one after the other.
func TestCompressedReservation(t *testing.T) {
	e := loadNeedle(t)
	rng := rand.New(rand.NewPCG(8, 8))
	prompt := promptOf(e, "", 300, rng)
	for _, tc := range []struct {
		spec string
		want int
	}{{"snapkv:budget=64", 2}, {"none", 1}} {
		req := Request{Prompt: prompt, MaxNew: 40, Press: mustPress(t, tc.spec)}
		full, after := e.Reservation(req), e.CompressedReservation(req)
		if tc.spec != "none" && after*2 > full {
			t.Fatalf("%s: compressed reservation %d is not well below %d", tc.spec, after, full)
		}
		budget := full + e.CompressedReservation(Request{Prompt: prompt, MaxNew: 40, Press: mustPress(t, "snapkv:budget=64")})
		s, iv := newChecked(t, e, SchedulerConfig{KVBudget: budget})
		var streams []*Stream
		for range 2 {
			st, err := s.Submit(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, st)
		}
		for _, st := range streams {
			if _, final, err := drain(e, req, st); err != nil || final.Err != nil {
				t.Fatalf("%s: %v %v", tc.spec, err, final.Err)
			}
		}
		s.Close()
		iv.verify()
		if iv.maxRunning != tc.want {
			t.Errorf("%s: %d ran at once in a budget of %d (reservation %d, compressed %d), want %d",
				tc.spec, iv.maxRunning, budget, full, after, tc.want)
		}
		if st := s.Stats(); st.Reserved != 0 {
			t.Errorf("%s: %d bytes still reserved", tc.spec, st.Reserved)
		}
	}
}

// admissionSpecs are the presses the issue compares at one budget.
var admissionSpecs = []string{"snapkv:budget=256+think:ratio=0.5", "snapkv:budget=256", "none"}

// capacity is how many requests like req a KV budget holds at once when one
// of them is prefilling (its full reservation) and the others decode
// (compressed), first in first out.
func capacity(e *Engine, req Request, budget int64) int {
	full, after := e.Reservation(req), e.CompressedReservation(req)
	if full > budget {
		return 0
	}
	return 1 + int((budget-full)/after)
}

// TestAdmissionCounts checks, for 2,000-token prompts and 48 new tokens on
// the needle model (f16, 2 KiB a token uncompressed) in a 64 MiB budget,
// that a press which compresses more holds more requests at once: the counts
// follow from the reservations, which TestCompressedReservation checks the
// scheduler applies, and BenchmarkAdmission2k measures in real runs.
func TestAdmissionCounts(t *testing.T) {
	e := loadNeedle(t)
	const budget, prompt, maxNew = 64 << 20, 2000, 48
	tokens := promptOf(e, "", prompt, rand.New(rand.NewPCG(4, 4)))
	var counts []int
	for _, spec := range admissionSpecs {
		req := Request{Prompt: tokens, MaxNew: maxNew, Press: mustPress(t, spec)}
		n := capacity(e, req, budget)
		counts = append(counts, n)
		t.Logf("%-34s reserves %8d bytes prefilling, %8d compressed: %3d at once in 64 MiB",
			spec, e.Reservation(req), e.CompressedReservation(req), n)
	}
	if !(counts[0] > counts[1] && counts[1] > 5*counts[2] && counts[2] == budget/int(e.Reservation(Request{Prompt: tokens, MaxNew: maxNew}))) {
		t.Errorf("counts %v for %v: want more requests at once for more compression", counts, admissionSpecs)
	}
}

// BenchmarkAdmission2k runs 2,000-token requests (48 new tokens) on the
// needle model through a scheduler with a 64 MiB KV budget, each prompt
// prefilled in one step, and reports the most that ran at once, the
// capacity the reservations allow, the bytes ratio of one request at its
// end to the full cache, and the count that ratio alone would predict
// (budget over the request's final bytes).
func BenchmarkAdmission2k(b *testing.B) {
	e := loadNeedle(b)
	const budget, prompt, maxNew = 64 << 20, 2000, 48
	tokens := promptOf(e, "", prompt, rand.New(rand.NewPCG(6, 6)))
	fullBytes := int64(0)
	for _, spec := range []string{"none", "snapkv:budget=256", "snapkv:budget=256+think:ratio=0.5"} {
		b.Run(strings.ReplaceAll(spec, ":", "_"), func(b *testing.B) {
			req := Request{Prompt: tokens, MaxNew: maxNew, Press: mustPress(b, spec)}
			n := capacity(e, req, budget) + 8
			for b.Loop() {
				s, iv := newChecked(b, e, SchedulerConfig{KVBudget: budget, TokenBudget: 2048, MaxSeqs: 256})
				var streams []*Stream
				for range n {
					st, err := s.Submit(context.Background(), req)
					if err != nil {
						b.Fatal(err)
					}
					streams = append(streams, st)
				}
				var final Event
				for _, st := range streams {
					var err error
					if _, final, err = drain(e, req, st); err != nil || final.Err != nil {
						b.Fatal(err, final.Err)
					}
				}
				s.Close()
				iv.verify()
				if spec == "none" {
					fullBytes = final.Usage.KVBytes
				}
				ratio := float64(final.Usage.KVBytes) / float64(fullBytes)
				b.ReportMetric(float64(iv.maxRunning), "ran_at_once")
				b.ReportMetric(float64(capacity(e, req, budget)), "capacity")
				b.ReportMetric(ratio, "bytes_ratio")
				b.ReportMetric(float64(budget)/float64(final.Usage.KVBytes), "by_ratio")
			}
		})
	}
}

// TestStatsAfterCancel checks that Stats shows no running sequence once the
// last one is cancelled, while the loop waits for work (a /metrics scrape
// must not see a stale count).
func TestStatsAfterCancel(t *testing.T) {
	e := loadStories(t, 512)
	s := e.NewScheduler(SchedulerConfig{})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := s.Submit(ctx, Request{Prompt: promptOf(e, "Once upon a time", 20, rand.New(rand.NewPCG(1, 1))), MaxNew: 400})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Next(); !ok {
		t.Fatal("no first token")
	}
	cancel()
	for {
		if _, ok := st.Next(); !ok {
			break
		}
	}
	if got, ok := settled(s); !ok {
		t.Errorf("stats after the only request was cancelled: %+v", got)
	}
}
