package eval

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/thinkv/thinkv/internal/atomicfile"
)

// The plots are drawn with gonum.org/v1/plot, which is pure Go, and saved as
// PNG at 96 dots per inch.
const dpi = 96

// heatmap describes a heat map of z[row][col] with a colour bar on its right.
type heatmap struct {
	title, xLabel, yLabel, barLabel string
	cols, rows                      []string    // tick labels per column and row; "" for none
	z                               [][]float64 // [row][col]; NaN cells are drawn grey
	cmap                            palette.ColorMap
	format                          string // if set, each cell shows its value in this format
}

// grid adapts [row][col] data to plotter.GridXYZ, cell centres at integers.
type grid [][]float64

func (g grid) Dims() (c, r int)   { return len(g[0]), len(g) }
func (g grid) Z(c, r int) float64 { return g[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// save draws the heat map as a w×h PNG.
func (h heatmap) save(path string, w, ht vg.Length) error {
	p := newPlot(h.title)
	p.X.Label.Text, p.Y.Label.Text = h.xLabel, h.yLabel
	hm := plotter.NewHeatMap(grid(h.z), h.cmap.Palette(256))
	hm.Min, hm.Max = h.cmap.Min(), h.cmap.Max()
	hm.NaN = color.Gray{Y: 200}
	hm.Underflow, hm.Overflow = hm.Palette.Colors()[0], hm.Palette.Colors()[255]
	p.Add(hm)
	p.X.Tick.Marker, p.Y.Tick.Marker = labelTicks(h.cols), labelTicks(h.rows)
	if h.format != "" {
		var xys plotter.XYs
		var texts []string
		for r, row := range h.z {
			for c, v := range row {
				if !math.IsNaN(v) {
					xys = append(xys, plotter.XY{X: float64(c), Y: float64(r)})
					texts = append(texts, fmt.Sprintf(h.format, v))
				}
			}
		}
		if len(xys) > 0 {
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
			if err != nil {
				return err
			}
			for i := range l.TextStyle {
				l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
			}
			p.Add(l)
		}
	}
	bar := plot.New()
	bar.Add(&plotter.ColorBar{ColorMap: h.cmap, Vertical: true})
	bar.HideX()
	bar.Y.Padding = 0
	bar.Y.Label.Text = h.barLabel

	barW := vg.Points(90)
	// Room for the title, which is centred over the heat map.
	w = max(w, p.Title.TextStyle.Width(h.title)+barW+vg.Points(40))
	img := vgimg.NewWith(vgimg.UseWH(w, ht), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	left := draw.Crop(dc, 0, -barW, 0, 0)
	p.Draw(left)
	// The bar, its ticks and its label span the heat map's data area, to
	// the right of it.
	data := p.DataCanvas(left)
	right := draw.Crop(dc, w-barW+vg.Points(15), -vg.Points(12), data.Min.Y-dc.Min.Y, data.Max.Y-dc.Max.Y)
	bar.Draw(right)
	return writePNG(path, img)
}

// labelTicks places labels at 0, 1, 2, … (empty labels give no tick).
func labelTicks(labels []string) plot.ConstantTicks {
	var t plot.ConstantTicks
	for i, s := range labels {
		if s != "" {
			t = append(t, plot.Tick{Value: float64(i), Label: s})
		}
	}
	return t
}

// thin keeps at most about n of labels, blanking the rest evenly.
func thin(labels []string, n int) []string {
	step := (len(labels) + n - 1) / n
	if step <= 1 {
		return labels
	}
	out := make([]string, len(labels))
	for i := 0; i < len(labels); i += step {
		out[i] = labels[i]
	}
	return out
}

// series is one line of a line plot.
type series struct {
	name   string
	xs, ys []float64
}

// linePlot draws series as lines with points, with a legend.
type linePlot struct {
	title, xLabel, yLabel string
	logY                  bool
	xTicks                []plot.Tick // if set, the x axis ticks
	yMin, yMax            float64     // if yMin < yMax, the y range
	lines                 []series
}

func (lp linePlot) save(path string, w, h vg.Length) error {
	p := newPlot(lp.title)
	p.X.Label.Text, p.Y.Label.Text = lp.xLabel, lp.yLabel
	p.Add(plotter.NewGrid())
	if lp.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if lp.xTicks != nil {
		p.X.Tick.Marker = plot.ConstantTicks(lp.xTicks)
	}
	for i, s := range lp.lines {
		xys := make(plotter.XYs, 0, len(s.xs))
		for j := range s.xs {
			if y := s.ys[j]; !math.IsNaN(y) && (!lp.logY || y > 0) {
				xys = append(xys, plotter.XY{X: s.xs[j], Y: y})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, pts.Color = plotutil.DarkColors[i%len(plotutil.DarkColors)], plotutil.DarkColors[i%len(plotutil.DarkColors)]
		l.Dashes = plotutil.Dashes(i / len(plotutil.DarkColors))
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	if lp.yMin < lp.yMax {
		p.Y.Min, p.Y.Max = lp.yMin, lp.yMax
	}
	return savePlot(p, path, w, h)
}

// scoreMax returns the top of a score axis (in percent) for values up to v:
// a little above v, in tens, at least 10 and at most 100.
func scoreMax(v float64) float64 {
	return min(100, max(10, 10*math.Ceil(v*1.15/10)))
}

// point is one labelled point of a scatter plot.
type point struct {
	name string
	x, y float64
}

// scatter draws one point per entry, each with its own colour and shape, named
// in the legend, on a y axis from yMin to yMax (yMax 0: fitted to scores in
// percent).
func scatter(path, title, xLabel, yLabel string, pts []point, yMin, yMax float64) error {
	if yMax == 0 {
		for _, pt := range pts {
			yMax = max(yMax, scoreMax(pt.y))
		}
	}
	p := newPlot(title)
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	p.Add(plotter.NewGrid())
	for i, pt := range pts {
		s, err := plotter.NewScatter(plotter.XYs{{X: pt.x, Y: pt.y}})
		if err != nil {
			return err
		}
		s.Color = plotutil.DarkColors[i%len(plotutil.DarkColors)]
		s.Shape = plotutil.Shape(i)
		s.Radius = vg.Points(5)
		p.Add(s)
		p.Legend.Add(pt.name, s)
	}
	p.Y.Min, p.Y.Max = yMin, yMax
	p.X.Min = 0
	for _, pt := range pts {
		p.X.Max = max(p.X.Max, 1.08*pt.x)
	}
	p.X.Padding, p.Y.Padding = vg.Points(10), vg.Points(10)
	return savePlot(p, path, vg.Points(640), vg.Points(420))
}

// newPlot makes a plot with a title and room around it.
func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.Title.TextStyle.Font.Size = vg.Points(13)
	return p
}

// savePlot draws p as a PNG, w×h plus room on the right for its legend, if
// any, which so hides no data.
func savePlot(p *plot.Plot, path string, w, h vg.Length) error {
	legend := p.Legend
	p.Legend = plot.NewLegend()
	legend.Top, legend.Left = true, true
	const pad = 12
	lw := legend.Rectangle(draw.New(vgimg.New(w, h))).Size().X
	if lw > 0 {
		w += lw + 2*pad
	}
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	if lw == 0 {
		p.Draw(dc)
		return writePNG(path, img)
	}
	left := draw.Crop(dc, 0, -lw-2*pad, 0, 0)
	p.Draw(left)
	data := p.DataCanvas(left)
	legend.Draw(draw.Crop(dc, w-lw-pad, -pad, 0, data.Max.Y-dc.Max.Y))
	return writePNG(path, img)
}

// writePNG encodes img into path through a temporary file, so that a
// failed or interrupted write leaves no half image.
func writePNG(path string, img *vgimg.Canvas) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}
