package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/thinkv/thinkv/internal/atomicfile"
)

// Merge reads the output directories of a run's shards (or of runs with the
// same settings) and combines them: their settings must agree but for the
// shard, and a result present in several directories is kept once. It also
// returns, for sharded runs, the shards of Shards that no directory holds.
// Directories that hold no result at all are an error: there is nothing to
// report.
func Merge(dirs []string) (meta Meta, recs []Record, missing []int, err error) {
	seen := map[string]bool{}
	shards := map[int]bool{}
	for i, dir := range dirs {
		m, rs, err := LoadDir(dir)
		if err != nil {
			return Meta{}, nil, nil, err
		}
		if i == 0 {
			meta = m
		} else {
			a, b := meta, m
			a.Shard, b.Shard = 0, 0
			if d := a.differences(b, dirs[0], dir); len(d) > 0 {
				return Meta{}, nil, nil, fmt.Errorf("%s is not the same run as %s:\n  %s", dir, dirs[0], strings.Join(d, "\n  "))
			}
			meta.merge(m)
		}
		shards[m.Shard] = true
		for _, r := range rs {
			if k := recordKey(r.Task, r.ID, r.Press); !seen[k] {
				seen[k] = true
				recs = append(recs, r)
			}
		}
	}
	if len(recs) == 0 {
		return Meta{}, nil, nil, fmt.Errorf("nothing to merge: %s hold no results", strings.Join(dirs, ", "))
	}
	for i := 0; i < meta.Shards; i++ {
		if !shards[i] {
			missing = append(missing, i)
		}
	}
	meta.Shard, meta.Shards = 0, 0
	return meta, recs, missing, nil
}

// WriteMerged writes merged settings and records as a run directory, so that
// it can be reported on (and merged) like any other. dir must not be one of
// the directories merged: it is overwritten.
func WriteMerged(dir string, meta Meta, recs []Record, from []string) error {
	abs, _ := filepath.Abs(dir)
	if slices.ContainsFunc(from, func(d string) bool { a, _ := filepath.Abs(d); return a == abs }) {
		return fmt.Errorf("--out %s is one of the directories merged: choose another", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, MetaFile), meta); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, SamplesFile), 0o644, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return bw.Flush()
	})
}
