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
)

// Files a run writes in its output directory.
const (
	MetaFile    = "run.json"      // the run's settings
	SamplesFile = "samples.jsonl" // one Record per line, appended as each completes
)

// Meta records how a run's results were made; it is saved as run.json.
type Meta struct {
	Model    string      `json:"model"`
	Tasks    []string    `json:"tasks"`
	Presses  []PressInfo `json:"presses"`
	Protocol Protocol    `json:"protocol"`
	Lengths  []int       `json:"lengths"`
	Samples  int         `json:"samples"`
	Seed     uint64      `json:"seed"`
	KVType   string      `json:"kv_type"`
	Truncate bool        `json:"truncate,omitempty"`
	Shard    int         `json:"shard"`
	Shards   int         `json:"shards"`
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

// compatible reports why results made under o cannot be mixed with m's in one
// directory, if they cannot. Tasks and presses may differ.
func (m Meta) compatible(o Meta) error {
	switch {
	case m.Model != o.Model:
		return fmt.Errorf("model %s, not %s", o.Model, m.Model)
	case m.Protocol != o.Protocol:
		return fmt.Errorf("protocol %s, not %s", o.Protocol, m.Protocol)
	case !slices.Equal(m.Lengths, o.Lengths) || m.Samples != o.Samples || m.Seed != o.Seed:
		return fmt.Errorf("lengths %v, %d samples, seed %d, not %v, %d, %d", o.Lengths, o.Samples, o.Seed, m.Lengths, m.Samples, m.Seed)
	case m.KVType != o.KVType || m.Truncate != o.Truncate:
		return fmt.Errorf("KV type %s, truncation %v, not %s, %v", o.KVType, o.Truncate, m.KVType, m.Truncate)
	case m.Shard != o.Shard || m.Shards != o.Shards:
		return fmt.Errorf("shard %d/%d, not %d/%d", o.Shard, o.Shards, m.Shard, m.Shards)
	}
	return nil
}

// merge adds o's tasks and presses to m's.
func (m *Meta) merge(o Meta) {
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
// If dir already holds results, resume must be set and its settings must be
// compatible; its records are then kept (a line cut short by an interrupt is
// dropped) and reported by Done.
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
		if err := meta.compatible(old); err != nil {
			return nil, fmt.Errorf("cannot resume in %s: its results were made with %v", dir, err)
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
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
