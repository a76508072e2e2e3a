package eval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// Protocol says when a press compresses the prompt.
type Protocol string

// Protocols.
const (
	// QueryAware prefills Context+Question+AnswerPrefix under the press, so
	// the observation window holds the question (the papers' setting).
	QueryAware Protocol = "query-aware"
	// QueryAgnostic prefills Context under the press, then runs
	// Question+AnswerPrefix through the compressed cache uncompressed, as
	// a cache reused for several questions would be (kvpress's default).
	QueryAgnostic Protocol = "query-agnostic"
)

// PressSpec is a press with the label it is shown under.
type PressSpec struct {
	Label string      // as the user wrote it, e.g. "snapkv:budget=128"
	Press press.Press // nil: the full cache
}

// Spec returns the press's canonical spec ("none" for the full cache).
func (p PressSpec) Spec() string {
	if p.Press == nil {
		return "none"
	}
	return p.Press.String()
}

// RunConfig describes a run: every press on the same samples.
type RunConfig struct {
	Tasks    []Task
	Options  Options
	Presses  []PressSpec // run in this order, on each sample in turn
	Protocol Protocol
	KVType   kvcache.DType
	// Truncate cuts tokens from the middle of the context of a prompt that,
	// with its generation, does not fit the model's context, as LongBench
	// does; otherwise such a prompt is an error before anything runs.
	Truncate bool
	// Shard and Shards select the samples whose index i in the run's sample
	// list (every task's samples, in order) has i%Shards == Shard; Shards ≤ 1
	// runs all.
	Shard, Shards int
	// Done reports a (task, sample, press) already recorded, to skip on resume.
	Done func(task, id, spec string) bool
	// OnStart, if set, is told how many generations the run will make.
	OnStart func(total int)
	// OnRecord receives each result as it completes; an error stops the run.
	OnRecord func(Record) error
}

// Record is the outcome of one sample under one press: one line of
// samples.jsonl.
type Record struct {
	Task     string   `json:"task"`
	ID       string   `json:"id"`
	Press    string   `json:"press"` // canonical spec; "none" for the full cache
	Protocol Protocol `json:"protocol"`
	// Length is the requested length (of Options.Lengths) nearest the
	// sample's own, so that the samples made for one length are reported
	// together; with no Lengths it is the sample's Length.
	Length int     `json:"length"`
	Depth  float64 `json:"depth"`
	Score  float64 `json:"score"`
	// Metrics holds the task's further metrics (see Metricser).
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	Prediction string             `json:"prediction"`
	Answers    []string           `json:"answers"`
	// PromptTokens counts the prompt, BOS included; CompressedTokens how
	// many of them were prefilled under the press (all of them when
	// query-aware, the context when query-agnostic).
	PromptTokens     int     `json:"prompt_tokens"`
	CompressedTokens int     `json:"compressed_tokens"`
	NewTokens        int     `json:"new_tokens"`
	TruncatedTokens  int     `json:"truncated_tokens,omitempty"` // cut from the middle of the context (RunConfig.Truncate)
	KVBytes          int64   `json:"kv_bytes"`                   // allocated at the end of generation
	KVBytesFull      int64   `json:"kv_bytes_full"`              // an uncompressed cache of the same type and capacity
	PrefillSeconds   float64 `json:"prefill_s"`
	DecodeSeconds    float64 `json:"decode_s"`
	DecodeSteps      int     `json:"decode_steps"`
}

// Metricser is implemented by tasks that report metrics besides Score, such
// as NIAH's ROUGE-1 recall; the runner records them under their names.
type Metricser interface {
	Metrics(s Sample, prediction string) map[string]float64
}

// item is a sample ready to run: its task, its tokens, and where the part
// a query-agnostic run compresses ends.
type item struct {
	task   Task
	s      Sample
	ids    []int
	split  int
	maxNew int
	length int // the requested length it was made for
	cut    int // context tokens cut from the middle to fit
}

// Plan is a run made ready: every task's samples made, this shard's
// tokenized and checked against the model's context. Preparing first finds
// bad settings and data before anything is written or run.
type Plan struct {
	// Config is the run's configuration; its callbacks (Done, OnStart,
	// OnRecord) may be set after Prepare.
	Config RunConfig
	// TaskSamples maps each task's name to a SHA-256 of all its samples,
	// every shard's, which identifies what its data and options made.
	TaskSamples map[string]string
	e           *engine.Engine
	items       []item
}

// Run generates every selected sample under every press, greedily, and hands
// each Record to cfg.OnRecord as it completes. It stops early, with ctx's
// error, when ctx is done.
func Run(ctx context.Context, e *engine.Engine, cfg RunConfig) error {
	p, err := Prepare(e, cfg)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

// Prepare checks cfg and makes its samples, failing before anything runs if
// a prompt does not fit the model's context.
func Prepare(e *engine.Engine, cfg RunConfig) (*Plan, error) {
	if len(cfg.Presses) == 0 {
		return nil, fmt.Errorf("no presses to run")
	}
	if cfg.Protocol != QueryAware && cfg.Protocol != QueryAgnostic {
		return nil, fmt.Errorf("unknown protocol %q", cfg.Protocol)
	}
	p := &Plan{Config: cfg, TaskSamples: map[string]string{}, e: e}
	i := 0
	for _, t := range cfg.Tasks {
		samples, err := t.Samples(e.Tok, cfg.Options)
		if err != nil && !strings.HasPrefix(err.Error(), t.Name()+":") {
			err = fmt.Errorf("%s: %w", t.Name(), err)
		}
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		enc := json.NewEncoder(h)
		for _, s := range samples {
			if err := enc.Encode(s); err != nil {
				return nil, err
			}
			mine := cfg.Shards <= 1 || i%cfg.Shards == cfg.Shard
			i++
			if !mine {
				continue
			}
			it, err := prepareItem(e, cfg, t, s)
			if err != nil {
				return nil, err
			}
			p.items = append(p.items, it)
		}
		p.TaskSamples[t.Name()] = hex.EncodeToString(h.Sum(nil))
	}
	return p, nil
}

// Run runs the plan: see the package function Run.
func (p *Plan) Run(ctx context.Context) error {
	cfg := p.Config
	total := 0
	for _, it := range p.items {
		for _, ps := range cfg.Presses {
			if cfg.Done == nil || !cfg.Done(it.task.Name(), it.s.ID, ps.Spec()) {
				total++
			}
		}
	}
	if cfg.OnStart != nil {
		cfg.OnStart(total)
	}
	for _, it := range p.items {
		for _, ps := range cfg.Presses {
			if cfg.Done != nil && cfg.Done(it.task.Name(), it.s.ID, ps.Spec()) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, err := generate(p.e, cfg, it, ps.Press)
			if err != nil {
				return fmt.Errorf("%s sample %s, press %s: %w", it.task.Name(), it.s.ID, ps.Spec(), err)
			}
			if cfg.OnRecord != nil {
				if err := cfg.OnRecord(rec); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// prepareItem tokenizes a sample, cutting its context if it does not fit
// and cfg.Truncate is set, else failing.
func prepareItem(e *engine.Engine, cfg RunConfig, t Task, s Sample) (item, error) {
	it := item{task: t, s: s, length: nearest(cfg.Options.Lengths, s.Length)}
	it.ids, it.split = promptTokens(e, s)
	want := max(s.MaxNew, 1)
	if over := len(it.ids) + want - e.Model.Context; over > 0 && cfg.Truncate {
		it.ids, it.split, it.cut = cutMiddle(it.ids, it.split, over)
	}
	n := len(it.ids)
	if n >= e.Model.Context {
		return it, fmt.Errorf("%s sample %s: the prompt has %d tokens, the model's context is %d: choose shorter --lengths, or give --truncate",
			t.Name(), s.ID, n, e.Model.Context)
	}
	it.maxNew = min(want, e.Model.Context-n)
	return it, nil
}

// nearest returns the length in lengths nearest n (the larger on a tie), or n
// if there are none.
func nearest(lengths []int, n int) int {
	best := n
	for i, l := range lengths {
		if d, e := abs(l-n), abs(best-n); i == 0 || d < e || d == e && l > best {
			best = l
		}
	}
	return best
}

func abs(x int) int { return max(x, -x) }

// promptTokens tokenizes a sample's whole prompt once, with BOS where the
// model takes one, so that both protocols see the same tokens, and returns
// with it the number of leading tokens whose text lies within Context (a
// token straddling the boundary goes with the question).
func promptTokens(e *engine.Engine, s Sample) ([]int, int) {
	ids := e.Tok.Encode(s.Context+s.Question+s.AnswerPrefix, e.Tok.AddBOS())
	first, prev := 0, -1
	if len(ids) > 0 && ids[0] == e.Tok.BOS() {
		first, prev = 1, ids[0]
	}
	split, n := first, 0
	for i := first; i < len(ids); i++ {
		n += len(e.Tok.Piece(prev, ids[i]))
		prev = ids[i]
		if n > len(s.Context) {
			break
		}
		split = i + 1
	}
	return ids, max(1, min(split, len(ids)-1))
}

// cutMiddle removes up to over tokens from the middle of the context
// ids[1:split] (BOS stays), returning the tokens, the new split and how many
// were cut.
func cutMiddle(ids []int, split, over int) ([]int, int, int) {
	over = min(over, split-1)
	keep := split - 1 - over
	lo := 1 + (keep+1)/2
	out := append(slices.Clone(ids[:lo]), ids[lo+over:]...)
	return out, split - over, over
}

// generate runs one sample under one press (nil: the full cache) and scores
// the greedy continuation.
func generate(e *engine.Engine, cfg RunConfig, it item, p press.Press) (Record, error) {
	ids, n := it.ids, len(it.ids)
	c, s, err := e.NewSequence(n, n+it.maxNew-1, cfg.KVType)
	if err != nil {
		return Record{}, err
	}
	rec := Record{Task: it.task.Name(), ID: it.s.ID, Press: PressSpec{Press: p}.Spec(), Protocol: cfg.Protocol,
		Length: it.length, Depth: it.s.Depth, Answers: it.s.Answers, PromptTokens: n, CompressedTokens: n, TruncatedTokens: it.cut}
	t0 := time.Now()
	var logits []float32
	if cfg.Protocol == QueryAgnostic {
		rec.CompressedTokens = it.split
		if _, err = e.Prefill(s, c, ids[:it.split], p); err == nil {
			logits, err = e.Prefill(s, c, ids[it.split:], nil)
		}
	} else {
		logits, err = e.Prefill(s, c, ids, p)
	}
	if err != nil {
		return Record{}, err
	}
	rec.PrefillSeconds = time.Since(t0).Seconds()
	t1 := time.Now()
	var out []int
	for {
		next := engine.Argmax(logits)
		if e.Tok.IsEOG(next) || next == e.Tok.BOS() {
			break
		}
		out = append(out, next)
		if len(out) == it.maxNew || c.Next() >= e.Model.Context {
			break
		}
		if logits, err = e.Decode(s, c, next, p); err != nil {
			return Record{}, err
		}
		rec.DecodeSteps++
	}
	rec.DecodeSeconds = time.Since(t1).Seconds()
	rec.NewTokens = len(out)
	rec.KVBytes, rec.KVBytesFull = c.Bytes(), c.FullBytes()
	rec.Prediction = e.Tok.Decode(out)
	rec.Score = it.task.Score(it.s, rec.Prediction)
	if m, ok := it.task.(Metricser); ok {
		rec.Metrics = m.Metrics(it.s, rec.Prediction)
	}
	return rec, nil
}

// label returns how a record's press is shown: labels maps canonical specs
// to the user's labels.
func label(labels map[string]string, spec string) string {
	if l, ok := labels[spec]; ok && l != "" {
		return l
	}
	return strings.TrimSpace(spec)
}
