package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/thinkv/thinkv/internal/atomicfile"
)

// Files a run writes in its output directory.
const (
	MetaFile    = "run.json"      // the run's settings
	SamplesFile = "samples.jsonl" // one Record per line, appended as each completes
)

// Meta records how a run's results were made; it is saved as run.json. A
// resumed run, and the shards merged into one report, must agree on
// everything in it but Tasks and Presses (and, when merging, Shard).
type Meta struct {
	Model string `json:"model"` // the model's base name
	// ModelID and Tokenizer identify the model and tokenizer, and Context is
	// the context length run (--ctx or the model's own). Each is zero in a
	// run.json written before it was recorded.
	ModelID   *FileID  `json:"model_id,omitempty"`
	Tokenizer *FileID  `json:"tokenizer,omitempty"`
	Context   int      `json:"context,omitempty"`
	Tasks     []string `json:"tasks"`
	// TaskSamples maps each task to a SHA-256 of its samples, every shard's:
	// what its data, haystack, word lists, needle, question, lengths,
	// sample count and seed made.
	TaskSamples map[string]string `json:"task_samples,omitempty"`
	Presses     []PressInfo       `json:"presses"`
	Protocol    Protocol          `json:"protocol"`
	Lengths     []int             `json:"lengths"`
	Samples     int               `json:"samples"`
	Seed        uint64            `json:"seed"`
	KVType      string            `json:"kv_type"`
	Truncate    bool              `json:"truncate,omitempty"`
	Shard       int               `json:"shard"`
	Shards      int               `json:"shards"`
}

// PressInfo names a press: its label as the user gave it and its canonical spec.
type PressInfo struct {
	Label string `json:"label"`
	Spec  string `json:"spec"`
}

// Labels maps canonical specs to labels.
func (m Meta) Labels() map[string]string {
	l := make(map[string]string, len(m.Presses))
	for _, p := range m.Presses {
		l[p.Spec] = p.Label
	}
	return l
}

// differences lists why results made under o cannot be mixed with m's in one
// directory, one line per setting: "SETTING: MINE has A, THEIRS B". Tasks
// and presses may differ; a setting one of them did not record is not
// compared.
func (m Meta) differences(o Meta, mine, theirs string) []string {
	var out []string
	add := func(what string, a, b any) {
		if x, y := fmt.Sprint(a), fmt.Sprint(b); x != y {
			out = append(out, fmt.Sprintf("%s: %s has %s, %s %s", what, mine, x, theirs, y))
		}
	}
	if m.ModelID != nil && o.ModelID != nil {
		if m.ModelID.Size != o.ModelID.Size || m.ModelID.SHA256 != o.ModelID.SHA256 {
			add("model (-m)", m.ModelID, o.ModelID)
		}
	} else {
		add("model (-m)", m.Model, o.Model)
	}
	if m.Tokenizer != nil && o.Tokenizer != nil {
		a, b := *m.Tokenizer, *o.Tokenizer
		if a.Size != b.Size || a.SHA256 != b.SHA256 || (a.Name == OwnTokenizer) != (b.Name == OwnTokenizer) {
			add("tokenizer (-t)", a, b)
		}
	}
	if m.Context != 0 && o.Context != 0 {
		add("context (--ctx)", m.Context, o.Context)
	}
	add("protocol (--query-aware/--query-agnostic)", m.Protocol, o.Protocol)
	add("--lengths", m.Lengths, o.Lengths)
	add("--samples", m.Samples, o.Samples)
	add("--seed", m.Seed, o.Seed)
	add("--kv-type", m.KVType, o.KVType)
	add("--truncate", m.Truncate, o.Truncate)
	add("--shard", fmt.Sprintf("%d/%d", m.Shard, m.Shards), fmt.Sprintf("%d/%d", o.Shard, o.Shards))
	for _, t := range m.Tasks {
		a, b := m.TaskSamples[t], o.TaskSamples[t]
		if a != "" && b != "" && a != b {
			add("the samples of "+t+" (its data, --haystack, --wordlists, --needle, --question)",
				"sha256 "+a[:min(12, len(a))], "sha256 "+b[:min(12, len(b))])
		}
	}
	return out
}

// merge adds o's tasks and presses to m's, and what o records that m does not.
func (m *Meta) merge(o Meta) {
	if m.ModelID == nil {
		m.ModelID = o.ModelID
	}
	if m.Tokenizer == nil {
		m.Tokenizer = o.Tokenizer
	}
	if m.Context == 0 {
		m.Context = o.Context
	}
	for t, h := range o.TaskSamples {
		if _, ok := m.TaskSamples[t]; !ok {
			if m.TaskSamples == nil {
				m.TaskSamples = map[string]string{}
			}
			m.TaskSamples[t] = h
		}
	}
	for _, t := range o.Tasks {
		if !slices.Contains(m.Tasks, t) {
			m.Tasks = append(m.Tasks, t)
		}
	}
	for _, p := range o.Presses {
		if !slices.ContainsFunc(m.Presses, func(q PressInfo) bool { return q.Spec == p.Spec }) {
			m.Presses = append(m.Presses, p)
		}
	}
}

// Store is a run's output directory: its settings and the records written so
// far. Each record is appended and synced as it completes, so an interrupted
// run loses at most the sample in progress.
type Store struct {
	Dir  string
	Meta Meta
	recs []Record
	done map[string]bool
	f    *os.File
}

func recordKey(task, id, spec string) string { return task + "\x00" + id + "\x00" + spec }

// OpenStore creates the output directory dir for a run with settings meta.
// If dir already holds results, resume must be set and its settings must
// agree with meta (see Meta; the error lists every one that differs); its
// records are then kept (a line cut short by an interrupt is dropped) and
// reported by Done. run.json is written atomically; samples.jsonl is an
// append log, each record synced as it is added.
func OpenStore(dir string, meta Meta, resume bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Store{Dir: dir, Meta: meta, done: map[string]bool{}}
	old, recs, valid, err := load(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case len(recs) > 0 && !resume:
		return nil, fmt.Errorf("%s already holds %d results: give --resume to continue, or another --out", dir, len(recs))
	case resume:
		if d := old.differences(meta, MetaFile, "this run"); len(d) > 0 {
			return nil, fmt.Errorf("cannot resume in %s: this run differs from the one recorded in %s:\n  %s\ngive the same settings, or another --out",
				dir, filepath.Join(dir, MetaFile), strings.Join(d, "\n  "))
		}
		s.Meta = old
		s.Meta.merge(meta)
		s.recs = recs
	}
	for _, r := range s.recs {
		s.done[recordKey(r.Task, r.ID, r.Press)] = true
	}
	if err := writeJSON(filepath.Join(dir, MetaFile), s.Meta); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, SamplesFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	// Drop a partial last line, and everything when not resuming.
	if err := f.Truncate(valid); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(valid, 0); err != nil {
		f.Close()
		return nil, err
	}
	s.f = f
	return s, nil
}

// Done reports whether the store holds a result for the sample and press.
func (s *Store) Done(task, id, spec string) bool { return s.done[recordKey(task, id, spec)] }

// Add appends a record and syncs it to disk.
func (s *Store) Add(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return err
	}
	s.recs = append(s.recs, r)
	s.done[recordKey(r.Task, r.ID, r.Press)] = true
	return s.f.Sync()
}

// Records returns the records so far.
func (s *Store) Records() []Record { return s.recs }

// Close closes the samples file.
func (s *Store) Close() error { return s.f.Close() }

// LoadDir reads the settings and records of a run's output directory.
func LoadDir(dir string) (Meta, []Record, error) {
	m, recs, _, err := load(dir)
	return m, recs, err
}

// load reads dir's run.json and samples.jsonl, returning the records of the
// complete lines and the length of the file they span.
func load(dir string) (Meta, []Record, int64, error) {
	var m Meta
	b, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		return m, nil, 0, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, nil, 0, fmt.Errorf("%s: %w", filepath.Join(dir, MetaFile), err)
	}
	data, err := os.ReadFile(filepath.Join(dir, SamplesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil, 0, nil
	} else if err != nil {
		return m, nil, 0, err
	}
	var recs []Record
	var valid int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for line := 1; sc.Scan(); line++ {
		end := valid + int64(len(sc.Bytes())) + 1
		if end > int64(len(data)) {
			break // no newline: cut short by an interrupt
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return m, nil, 0, fmt.Errorf("%s:%d: %w", filepath.Join(dir, SamplesFile), line, err)
		}
		recs = append(recs, r)
		valid = end
	}
	return m, recs, valid, sc.Err()
}

// writeJSON writes v, indented, to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}
