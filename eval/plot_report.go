package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/vg"
)

// WritePlots draws the report's figures as PNG files in dir and returns their
// paths: for each task with needle depths (NIAH), a length × depth heat map of
// the score per press; for each task and the average, score against mean
// KV-cache bytes, one point per press; and for each task run at several
// lengths, score against length, one line per press.
func (r *Report) WritePlots(dir string, recs []Record) ([]string, error) {
	var files []string
	labels := r.Meta.Labels()
	for _, task := range r.Tasks {
		for i, press := range r.Presses {
			var mine []Record
			for _, rec := range recs {
				if rec.Task == task && label(labels, rec.Press) == press && rec.Depth >= 0 {
					mine = append(mine, rec)
				}
			}
			if len(mine) == 0 {
				continue
			}
			// The score, then each further metric (NIAH's ROUGE-1 recall).
			metrics := []string{""}
			for _, rec := range mine {
				for m := range rec.Metrics {
					if !slices.Contains(metrics, m) {
						metrics = append(metrics, m)
					}
				}
			}
			slices.Sort(metrics[1:])
			for _, metric := range metrics {
				// The press's index keeps its names apart.
				name := fmt.Sprintf("heatmap_%s_%d_%s.png", safeName(task), i, shortName(press))
				if metric != "" {
					name = fmt.Sprintf("heatmap_%s_%s_%d_%s.png", safeName(task), safeName(metric), i, shortName(press))
				}
				path := filepath.Join(dir, name)
				if err := depthHeatmap(path, task, press, metric, mine); err != nil {
					return files, err
				}
				files = append(files, path)
			}
		}
	}
	for _, task := range append(slices.Clone(r.Tasks), Average) {
		var pts []point
		var maxBytes float64
		for _, press := range r.Presses {
			if s, ok := r.Find(press, task); ok {
				pts = append(pts, point{name: press, x: s.KVBytes, y: 100 * s.Score})
				maxBytes = max(maxBytes, s.KVBytes)
			}
		}
		if len(pts) == 0 {
			continue
		}
		unit, div := byteUnit(maxBytes)
		for i := range pts {
			pts[i].x /= div
		}
		path := filepath.Join(dir, "score_vs_kv_"+safeName(task)+".png")
		title := task + ": score against KV-cache size"
		if err := scatter(path, title, "mean KV-cache size ("+unit+")", "score (%)", pts, 0, 0); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	for _, task := range r.Tasks {
		lp := linePlot{title: task + ": score by context length", xLabel: "context length (tokens)", yLabel: "score (%)"}
		lengths := map[int]bool{}
		for _, press := range r.Presses {
			s := series{name: press}
			for _, row := range r.ByLength {
				if row.Task == task && row.Press == press {
					s.xs, s.ys = append(s.xs, float64(row.Length)), append(s.ys, 100*row.Score)
					lengths[row.Length] = true
					lp.yMax = max(lp.yMax, scoreMax(100*row.Score))
				}
			}
			lp.lines = append(lp.lines, s)
		}
		if len(lengths) < 2 {
			continue
		}
		for _, n := range slices.Sorted(maps.Keys(lengths)) {
			lp.xTicks = append(lp.xTicks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
		}
		path := filepath.Join(dir, "score_vs_length_"+safeName(task)+".png")
		if err := lp.save(path, vg.Points(640), vg.Points(420)); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}

// depthHeatmap draws the mean score of recs (or the metric, if not "") by
// length (columns) and depth (rows, 0% at the top).
func depthHeatmap(path, task, press, metric string, recs []Record) error {
	var lengths []int
	var depths []float64
	for _, r := range recs {
		if !slices.Contains(lengths, r.Length) {
			lengths = append(lengths, r.Length)
		}
		if !slices.Contains(depths, r.Depth) {
			depths = append(depths, r.Depth)
		}
	}
	slices.Sort(lengths)
	slices.Sort(depths)
	slices.Reverse(depths)
	sum, n := make([][]float64, len(depths)), make([][]float64, len(depths))
	for i := range sum {
		sum[i], n[i] = make([]float64, len(lengths)), make([]float64, len(lengths))
	}
	for _, r := range recs {
		i, j := slices.Index(depths, r.Depth), slices.Index(lengths, r.Length)
		if v, ok := r.Metrics[metric]; metric == "" || ok {
			if metric == "" {
				v = r.Score
			}
			sum[i][j] += v
			n[i][j]++
		}
	}
	h := heatmap{title: task + ": " + press, xLabel: "context length (tokens)", yLabel: "needle depth (%)", barLabel: "score",
		z: sum, cmap: scoreColors()}
	if metric != "" {
		h.title, h.barLabel = task+" "+metric+": "+press, metric
	}
	for i := range sum {
		for j := range sum[i] {
			if n[i][j] == 0 {
				sum[i][j] = math.NaN()
			} else {
				sum[i][j] /= n[i][j]
			}
		}
	}
	for _, n := range lengths {
		h.cols = append(h.cols, strconv.Itoa(n))
	}
	for _, d := range depths {
		h.rows = append(h.rows, strconv.FormatFloat(d, 'f', -1, 64))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, row := range sum {
		for _, v := range row {
			if !math.IsNaN(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if lo < 0 || hi > 1 {
		// Not a score: colour the data's own range.
		h.cmap.SetMin(lo)
		h.cmap.SetMax(max(hi, lo+1e-9))
	}
	if len(lengths)*len(depths) <= 120 {
		h.format = "%.2f"
	}
	w := vg.Points(float64(max(360, 150+60*len(lengths))))
	ht := vg.Points(float64(max(300, 120+28*len(depths))))
	return h.save(path, w, ht)
}

// scoreColors maps scores in [0, 1] from red (0) through pale yellow to green (1).
func scoreColors() palette.ColorMap {
	c := palette.Reverse(moreland.SmoothGreenRed())
	c.SetMin(0)
	c.SetMax(1)
	return c
}

// byteUnit picks a unit for byte counts up to b.
func byteUnit(b float64) (string, float64) {
	switch {
	case b >= 1<<30:
		return "GiB", 1 << 30
	case b >= 1<<20:
		return "MiB", 1 << 20
	case b >= 1<<10:
		return "KiB", 1 << 10
	}
	return "bytes", 1
}

// nameMax is the most bytes a part of a file name made from a task, metric
// or press takes, so that every plot's name stays well within the 255 bytes
// file systems allow.
const nameMax = 40

// shortName makes s safe as part of a file name on any file system: letters,
// digits, '.', '-' and '_' stay, anything else becomes '_', and a name longer
// than nameMax is cut.
func shortName(s string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	return out[:min(len(out), nameMax)]
}

// safeName is shortName, but distinct names stay distinct: a name that had
// to be changed ends in 8 hex digits of a hash of the whole of s.
func safeName(s string) string {
	out := shortName(s)
	if out == s {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return out[:min(len(out), nameMax-9)] + "-" + hex.EncodeToString(sum[:4])
}
