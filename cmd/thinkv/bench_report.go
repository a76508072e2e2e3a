package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/model"
)

// roofline fills in each decode test's roofline, achieved fraction and
// attention share.
func (r *benchReport) roofline() {
	base := map[string]*benchTest{} // each press's decode at depth 0
	for i := range r.Tests {
		if t := &r.Tests[i]; t.Kind == "tg" && t.Depth == 0 {
			base[t.Press] = t
		}
	}
	for i := range r.Tests {
		t := &r.Tests[i]
		if t.Kind != "tg" {
			continue
		}
		base := base[t.Press]
		if r.Bandwidth > 0 {
			t.Roofline = r.Bandwidth / float64(r.WeightRead+t.KVReadBytes)
			t.Fraction = t.Mean / t.Roofline
		}
		if base != nil && t.Depth > 0 && base.Mean > 0 {
			share := 1 - t.Mean/base.Mean
			t.AttentionShare = &share
		}
	}
}

// weightReadBytes returns the bytes of weights one decoded token reads:
// all of them (engine.WeightBytes, the embedding counted once when the
// output head is tied to it), but only one row of an untied embedding.
func weightReadBytes(e *engine.Engine) int64 {
	n, m := e.WeightBytes(), e.Model
	if m.Output != m.Embed {
		n -= int64(len(m.Embed.Data) - len(m.Embed.Data)/m.Embed.Rows)
	}
	return n
}

// readBandwidth measures the memory read bandwidth in bytes per second:
// threads goroutines sum their shares of a buffer of size bytes (written
// first, so that its pages are really backed), best of runs.
func readBandwidth(threads, size, runs int) float64 {
	buf := make([]uint64, size/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	threads = max(threads, 1)
	part := (len(buf) + threads - 1) / threads
	sums := make([]uint64, threads)
	best := 0.0
	for range runs {
		var wg sync.WaitGroup
		start := time.Now()
		for w := range threads {
			lo, hi := min(w*part, len(buf)), min((w+1)*part, len(buf))
			wg.Add(1)
			go func() {
				defer wg.Done()
				sums[w] = sum64(buf[lo:hi])
			}()
		}
		wg.Wait()
		if d := time.Since(start).Seconds(); d > 0 {
			best = max(best, float64(len(buf)*8)/d)
		}
	}
	runtime.KeepAlive(sums)
	return best
}

// sum64 adds up s with four independent accumulators, so that the loop is
// bound by memory rather than by the latency of one chain of additions.
func sum64(s []uint64) uint64 {
	var a, b, c, d uint64
	for len(s) >= 8 {
		a += s[0] + s[4]
		b += s[1] + s[5]
		c += s[2] + s[6]
		d += s[3] + s[7]
		s = s[8:]
	}
	for _, x := range s {
		a += x
	}
	return a + b + c + d
}

// meanSD returns the mean and the sample standard deviation (0 for one sample).
func meanSD(x []float64) (float64, float64) {
	if len(x) == 0 {
		return 0, 0
	}
	var sum float64
	for _, v := range x {
		sum += v
	}
	mean := sum / float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1))
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		d = time.Nanosecond
	}
	return float64(n) / d.Seconds()
}

// ftypeNames are llama.cpp's names of its llama_ftype values
// (general.file_type), as llama-bench's "type" shows them.
var ftypeNames = map[uint64]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
	16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}

// fileType names the model's weight type: the GGUF's general.file_type,
// else the type holding most of the layers' weight bytes.
func fileType(m *model.Model, meta *gguf.File) string {
	if meta != nil {
		if ft, ok := meta.Uint("general.file_type"); ok {
			if name, ok := ftypeNames[ft]; ok {
				return name
			}
		}
	}
	bytes := map[string]int{}
	for _, l := range m.Layers {
		for _, w := range []*kernels.Matrix{l.Wq, l.Wk, l.Wv, l.Wo, l.Gate, l.Up, l.Down} {
			bytes[w.Type.String()] += len(w.Data)
		}
	}
	best := ""
	for t, n := range bytes {
		if best == "" || n > bytes[best] || (n == bytes[best] && t < best) {
			best = t
		}
	}
	return strings.ToUpper(best)
}

func arch(m *model.Model) string {
	if m.Arch == "" {
		return "llama"
	}
	return m.Arch
}

// countLabel writes a parameter count as llama.cpp's model names do: 1.1B, 260K.
func countLabel(n int64) string {
	switch {
	case n >= 1e9:
		return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + "B"
	case n >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 0, 64) + "M"
	}
	return strconv.FormatFloat(float64(n)/1e3, 'f', 0, 64) + "K"
}

// binarySize writes bytes as llama-bench's size column: 636.18 MiB.
func binarySize(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}

// print writes the report as llama-bench's table, then the roofline,
// attention, cache and memory lines.
func (r *benchReport) print(w io.Writer) error {
	params := fmt.Sprintf("%.2f M", float64(r.Params)/1e6)
	if r.Params >= 1e9 {
		params = fmt.Sprintf("%.2f B", float64(r.Params)/1e9)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "model\t size\t params\t type\t kv\t press\t threads\t test\t t/s\t")
	fmt.Fprintln(tw, "---\t ---\t ---\t ---\t ---\t ---\t ---\t ---\t ---\t")
	for _, t := range r.Tests {
		fmt.Fprintf(tw, "%s\t %s\t %s\t %s\t %s\t %s\t %d\t %s\t %.2f ± %.2f\t\n",
			r.Name, binarySize(r.SizeBytes), params, r.Type, r.KVType, t.Press, r.Threads, t.Name, t.Mean, t.SD)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s, %d threads, kernels %s; prefill steps of up to %d tokens; %d repetitions\n",
		filepath.Base(r.Model), r.Threads, r.Tier, r.Batch, r.Reps)
	fmt.Fprintf(w, "read bandwidth: %.1f GB/s (%d threads summing %d MiB, best of 5)\n",
		r.Bandwidth/1e9, r.Threads, bandwidthBytes>>20)
	fmt.Fprintf(w, "weights read per decoded token: %s\n", binarySize(r.WeightRead))
	// With several presses, the lines below name each test's.
	label := func(t benchTest) string { return t.Name }
	if strings.Contains(r.Press, " | ") {
		label = func(t benchTest) string { return t.Name + " [" + t.Press + "]" }
	}
	for _, t := range r.Tests {
		if t.Kind != "tg" {
			continue
		}
		fmt.Fprintf(w, "%-16s roofline %.2f t/s (weights + %s of cache per token): achieved %.0f%%",
			label(t)+":", t.Roofline, binarySize(t.KVReadBytes), 100*t.Fraction)
		if t.AttentionShare != nil {
			fmt.Fprintf(w, "; attention share %.0f%% (1 − t/s ÷ t/s at depth 0)", 100**t.AttentionShare)
		}
		fmt.Fprintln(w)
	}
	// Attention's own time per decoded token, and with several presses its
	// ratio to the first press's on the same test.
	first := map[string]benchTest{}
	for _, t := range r.Tests {
		if t.Kind != "tg" || t.AttentionMS == 0 {
			continue
		}
		fmt.Fprintf(w, "%-16s attention %.3f ms per token (%.0f%% of the step)", label(t)+":", t.AttentionMS, t.AttentionMS*t.Mean/10)
		if f, ok := first[t.Name]; ok {
			fmt.Fprintf(w, ", %.2f× [%s]'s", t.AttentionMS/f.AttentionMS, f.Press)
		} else {
			first[t.Name] = t
		}
		fmt.Fprintln(w)
	}
	last := map[string]int{} // each press's last test
	for i, t := range r.Tests {
		last[t.Press] = i
	}
	for i, t := range r.Tests {
		if last[t.Press] == i {
			fmt.Fprintf(w, "KV cache after %s: %d bytes for %d tokens (uncompressed: %d = %d B/token × %d)\n",
				label(t), t.KVBytes, t.KVTokens, t.KVBytesFull, r.TokenBytes, t.KVTokens)
		}
	}
	fmt.Fprintf(w, "peak RSS: %s", binarySize(r.PeakRSS))
	if strings.Contains(r.Press, " | ") {
		fmt.Fprint(w, " (the whole run: every press's filled cache is held at once)")
	}
	fmt.Fprintln(w)
	return nil
}
