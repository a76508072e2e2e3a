package eval

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/thinkv/thinkv/internal/atomicfile"
)

// Average is the task name of each press's mean over tasks.
const Average = "average"

// Summary aggregates one press's records on one task (Task is Average for the
// mean of the press's task scores), at one prompt length or, with Length 0,
// at all of them.
type Summary struct {
	Press   string             `json:"press"` // label
	Spec    string             `json:"spec"`  // canonical spec
	Task    string             `json:"task"`
	Length  int                `json:"length,omitempty"`
	Samples int                `json:"samples"`
	Score   float64            `json:"score"` // mean, in [0, 1]
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// KVBytes is the mean KV-cache bytes at the end of generation, and
	// KVRatio its mean ratio to an uncompressed cache.
	KVBytes       float64 `json:"kv_bytes"`
	KVRatio       float64 `json:"kv_ratio"`
	PrefillPerSec float64 `json:"prefill_tokens_per_s"`
	DecodePerSec  float64 `json:"decode_tokens_per_s"`
}

// Report is the outcome of a run: settings, then summaries per press and task.
type Report struct {
	Meta     Meta      `json:"meta"`
	Presses  []string  `json:"presses"` // labels, in run order
	Tasks    []string  `json:"tasks"`
	Overall  []Summary `json:"overall"`   // per press and task (and Average), all lengths
	ByLength []Summary `json:"by_length"` // per press, task and length
}

// Summarize aggregates records. Presses and tasks are ordered as in meta,
// then as they first appear in the records.
func Summarize(meta Meta, recs []Record) *Report {
	labels := meta.Labels()
	var specs []string
	for _, p := range meta.Presses {
		specs = append(specs, p.Spec)
	}
	tasks := slices.Clone(meta.Tasks)
	for _, r := range recs {
		if !slices.Contains(specs, r.Press) {
			specs = append(specs, r.Press)
		}
		if !slices.Contains(tasks, r.Task) {
			tasks = append(tasks, r.Task)
		}
	}
	type key struct {
		spec, task string
		length     int
	}
	groups := map[key][]Record{}
	for _, r := range recs {
		groups[key{r.Press, r.Task, 0}] = append(groups[key{r.Press, r.Task, 0}], r)
		groups[key{r.Press, r.Task, r.Length}] = append(groups[key{r.Press, r.Task, r.Length}], r)
	}
	rep := &Report{Meta: meta, Tasks: tasks}
	for _, spec := range specs {
		var rows []Summary
		for _, t := range tasks {
			if g := groups[key{spec, t, 0}]; len(g) > 0 {
				rows = append(rows, summarize(label(labels, spec), spec, t, 0, g))
			}
		}
		if len(rows) == 0 {
			continue
		}
		rep.Presses = append(rep.Presses, label(labels, spec))
		rep.Overall = append(rep.Overall, rows...)
		rep.Overall = append(rep.Overall, average(rows))
		for _, t := range tasks {
			lengths := []int{}
			for k := range groups {
				if k.spec == spec && k.task == t && k.length != 0 {
					lengths = append(lengths, k.length)
				}
			}
			slices.Sort(lengths)
			for _, n := range lengths {
				rep.ByLength = append(rep.ByLength, summarize(label(labels, spec), spec, t, n, groups[key{spec, t, n}]))
			}
		}
	}
	return rep
}

func summarize(lbl, spec, task string, length int, g []Record) Summary {
	s := Summary{Press: lbl, Spec: spec, Task: task, Length: length, Samples: len(g)}
	var prefillTok, decodeTok int
	var prefillSec, decodeSec float64
	for _, r := range g {
		s.Score += r.Score
		s.KVBytes += float64(r.KVBytes)
		if r.KVBytesFull > 0 {
			s.KVRatio += float64(r.KVBytes) / float64(r.KVBytesFull)
		}
		for name, v := range r.Metrics {
			if s.Metrics == nil {
				s.Metrics = map[string]float64{}
			}
			s.Metrics[name] += v / float64(len(g))
		}
		prefillTok += r.PromptTokens
		prefillSec += r.PrefillSeconds
		decodeTok += r.DecodeSteps
		decodeSec += r.DecodeSeconds
	}
	n := float64(len(g))
	s.Score /= n
	s.KVBytes /= n
	s.KVRatio /= n
	if prefillSec > 0 {
		s.PrefillPerSec = float64(prefillTok) / prefillSec
	}
	if decodeSec > 0 {
		s.DecodePerSec = float64(decodeTok) / decodeSec
	}
	return s
}

// average is the unweighted mean of one press's task rows.
func average(rows []Summary) Summary {
	a := Summary{Press: rows[0].Press, Spec: rows[0].Spec, Task: Average}
	n := float64(len(rows))
	for _, r := range rows {
		a.Samples += r.Samples
		a.Score += r.Score / n
		a.KVBytes += r.KVBytes / n
		a.KVRatio += r.KVRatio / n
		a.PrefillPerSec += r.PrefillPerSec / n
		a.DecodePerSec += r.DecodePerSec / n
	}
	return a
}

// Find returns the overall summary of a press label on a task.
func (r *Report) Find(press, task string) (Summary, bool) {
	for _, s := range r.Overall {
		if s.Press == press && s.Task == task {
			return s, true
		}
	}
	return Summary{}, false
}

// WriteTable prints presses × tasks: each task's score (in percent) and
// further metrics, the average score, mean KV bytes and their ratio to the
// full cache, and decode speed.
func (r *Report) WriteTable(w io.Writer) error {
	type column struct{ task, metric string }
	var cols []column
	for _, t := range r.Tasks {
		cols = append(cols, column{t, ""})
		metrics := map[string]bool{}
		for _, s := range r.Overall {
			if s.Task == t {
				for m := range s.Metrics {
					metrics[m] = true
				}
			}
		}
		for _, m := range slices.Sorted(maps.Keys(metrics)) {
			cols = append(cols, column{t, m})
		}
	}
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t", PadRight("press", r.Presses))
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", strings.TrimSpace(c.task+" "+c.metric))
	}
	fmt.Fprintln(tw, "average\tKV bytes\tvs full\tdecode tok/s\t")
	for _, p := range r.Presses {
		fmt.Fprintf(tw, "%s\t", PadRight(p, r.Presses))
		for _, c := range cols {
			s, ok := r.Find(p, c.task)
			v, has := s.Metrics[c.metric]
			switch {
			case !ok || c.metric != "" && !has:
				fmt.Fprint(tw, "-\t")
			case c.metric == "":
				fmt.Fprintf(tw, "%.1f\t", 100*s.Score)
			case v >= 0 && v <= 1:
				fmt.Fprintf(tw, "%.1f\t", 100*v)
			default:
				fmt.Fprintf(tw, "%.3g\t", v)
			}
		}
		a, _ := r.Find(p, Average)
		fmt.Fprintf(tw, "%.1f\t%.0f\t%.3f\t%.0f\t\n", 100*a.Score, a.KVBytes, a.KVRatio, a.DecodePerSec)
	}
	return tw.Flush()
}

// PadRight pads s with spaces to the width of the longest of s and names, so
// that a right-aligning tabwriter shows it left-aligned.
func PadRight(s string, names []string) string {
	w := utf8.RuneCountInString(s)
	for _, n := range names {
		w = max(w, utf8.RuneCountInString(n))
	}
	return s + strings.Repeat(" ", w-utf8.RuneCountInString(s))
}

// WriteFiles writes results.json and results.csv into dir.
func (r *Report) WriteFiles(dir string) error {
	if err := writeJSON(filepath.Join(dir, "results.json"), r); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "results.csv"), 0o644, r.WriteCSV)
}

// WriteCSV writes one row per press, task and length ("all" for the overall
// rows), with a column per extra metric.
func (r *Report) WriteCSV(w io.Writer) error {
	metrics := map[string]bool{}
	for _, s := range r.Overall {
		for m := range s.Metrics {
			metrics[m] = true
		}
	}
	names := slices.Sorted(maps.Keys(metrics))
	cw := csv.NewWriter(w)
	head := []string{"press", "spec", "task", "length", "samples", "score", "kv_bytes", "kv_ratio", "prefill_tok_s", "decode_tok_s"}
	cw.Write(append(head, names...))
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, rows := range [][]Summary{r.Overall, r.ByLength} {
		for _, s := range rows {
			length := "all"
			if s.Length != 0 {
				length = strconv.Itoa(s.Length)
			}
			rec := []string{s.Press, s.Spec, s.Task, length, strconv.Itoa(s.Samples), f(s.Score), f(s.KVBytes), f(s.KVRatio), f(s.PrefillPerSec), f(s.DecodePerSec)}
			for _, m := range names {
				v, ok := s.Metrics[m]
				if !ok {
					rec = append(rec, "")
					continue
				}
				rec = append(rec, f(v))
			}
			cw.Write(rec)
		}
	}
	cw.Flush()
	return cw.Error()
}
