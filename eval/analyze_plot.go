package eval

import (
	"fmt"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/vg"
)

// WriteFiles writes analysis.json and the figures into dir, returning the
// paths of the figures:
//   - key_magnitude.png: every layer's and KV head's key magnitude by channel,
//     each row scaled to its largest channel;
//   - key_magnitude_layerL.png: the same for layer L as lines, one per KV head,
//     in the keys' own units;
//   - attention_spectrum.png: the singular values of the window's attention
//     scores, relative to the largest, averaged over each layer's heads;
//   - channel_energy.png and score_error.png: the share of ThinK's channel
//     scores kept, and the relative error of the attention scores, at each
//     pruning ratio λ, averaged over each layer's KV heads.
func (a *Analysis) WriteFiles(dir string) ([]string, error) {
	if err := writeJSON(filepath.Join(dir, "analysis.json"), a); err != nil {
		return nil, err
	}
	var files []string
	add := func(name string, save func(string) error) error {
		path := filepath.Join(dir, name)
		if err := save(path); err != nil {
			return err
		}
		files = append(files, path)
		return nil
	}
	if err := add("key_magnitude.png", a.magnitudeMap); err != nil {
		return files, err
	}
	for l := range a.Layers {
		lp := linePlot{title: fmt.Sprintf("Key magnitude by channel, layer %d (%d tokens)", l, a.Tokens),
			xLabel: "channel", yLabel: "RMS of the post-RoPE key"}
		for g, mag := range a.KeyMagnitude[l] {
			lp.lines = append(lp.lines, series{name: fmt.Sprintf("KV head %d", g), xs: indices(len(mag), 0), ys: mag})
		}
		if err := add(fmt.Sprintf("key_magnitude_layer%d.png", l), func(p string) error { return lp.save(p, vg.Points(560), vg.Points(340)) }); err != nil {
			return files, err
		}
	}
	spec := linePlot{title: fmt.Sprintf("Singular values of the window's attention scores QKᵀ (%d×%d)", a.Window, a.Tokens),
		xLabel: "index", yLabel: "σᵢ / σ₁ (mean over heads)", logY: true}
	energy := linePlot{title: "Channel-score energy kept by ThinK's top channels", xLabel: "pruning ratio λ",
		yLabel: "energy kept (%, mean over KV heads)", yMin: 0, yMax: 100}
	errs := linePlot{title: "Relative error of QKᵀ with the pruned channels removed", xLabel: "pruning ratio λ",
		yLabel: "relative error of QKᵀ (mean over KV heads)", yMin: 0, yMax: 1}
	for l := range a.Layers {
		name := fmt.Sprintf("layer %d", l)
		spec.lines = append(spec.lines, series{name: name, xs: indices(len(a.Singular[l][0]), 1), ys: meanRelative(a.Singular[l])})
		e, r := mean(a.Energy[l]), mean(a.ScoreError[l])
		for i := range e {
			e[i] *= 100
		}
		energy.lines = append(energy.lines, series{name: name, xs: a.Ratios, ys: e})
		errs.lines = append(errs.lines, series{name: name, xs: a.Ratios, ys: r})
	}
	for _, r := range a.Ratios {
		t := plot.Tick{Value: r, Label: strconv.FormatFloat(r, 'f', -1, 64)}
		energy.xTicks, errs.xTicks = append(energy.xTicks, t), append(errs.xTicks, t)
	}
	size := func(lp linePlot) func(string) error {
		return func(p string) error { return lp.save(p, vg.Points(560), vg.Points(380)) }
	}
	for _, f := range []struct {
		name string
		lp   linePlot
	}{{"attention_spectrum.png", spec}, {"channel_energy.png", energy}, {"score_error.png", errs}} {
		if err := add(f.name, size(f.lp)); err != nil {
			return files, err
		}
	}
	return files, nil
}

// magnitudeMap draws key magnitude by channel for every layer and KV head,
// one row each, scaled to the row's largest channel.
func (a *Analysis) magnitudeMap(path string) error {
	var z [][]float64
	var rows []string
	for l := a.Layers - 1; l >= 0; l-- {
		for g := a.KVHeads - 1; g >= 0; g-- {
			mag := a.KeyMagnitude[l][g]
			top := 0.0
			for _, v := range mag {
				top = max(top, v)
			}
			row := make([]float64, len(mag))
			for j, v := range mag {
				if top > 0 {
					row[j] = v / top
				}
			}
			z = append(z, row)
			rows = append(rows, fmt.Sprintf("L%d H%d", l, g))
		}
	}
	cols := make([]string, a.HeadDim)
	for j := range cols {
		cols[j] = fmt.Sprint(j)
	}
	cmap := moreland.ExtendedBlackBody()
	cmap.SetMin(0)
	cmap.SetMax(1)
	h := heatmap{title: fmt.Sprintf("Key magnitude by channel (%d tokens)", a.Tokens), xLabel: "channel", yLabel: "layer, KV head",
		barLabel: "RMS / row maximum", cols: thin(cols, 16), rows: thin(rows, 40), z: z, cmap: cmap}
	w := vg.Points(float64(min(900, max(480, 160+10*a.HeadDim))))
	ht := vg.Points(float64(min(900, max(320, 120+12*len(rows)))))
	return h.save(path, w, ht)
}

// indices returns from, from+1, …, from+n-1.
func indices(n, from int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(from + i)
	}
	return out
}

// mean returns the element-wise mean of rows.
func mean(rows [][]float64) []float64 {
	out := make([]float64, len(rows[0]))
	for _, r := range rows {
		for i, v := range r {
			out[i] += v / float64(len(rows))
		}
	}
	return out
}

// meanRelative divides each row by its first element, then averages.
func meanRelative(rows [][]float64) []float64 {
	rel := make([][]float64, len(rows))
	for i, r := range rows {
		rel[i] = make([]float64, len(r))
		for j, v := range r {
			if r[0] > 0 {
				rel[i][j] = v / r[0]
			}
		}
	}
	return mean(rel)
}
