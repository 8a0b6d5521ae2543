// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/nfgo/flow"
)

// maxDots is the most points drawn in one scatter panel: more only hide
// the shape under each other, and cost time and memory in the drawing.
const maxDots = 2000

// viridis holds matplotlib's viridis colour map at 0, 1/8, …, 1.
var viridis = []color.RGBA{
	{0x44, 0x01, 0x54, 0xff}, {0x46, 0x32, 0x7e, 0xff}, {0x36, 0x5c, 0x8d, 0xff},
	{0x27, 0x7f, 0x8e, 0xff}, {0x1f, 0xa1, 0x87, 0xff}, {0x4a, 0xc1, 0x6d, 0xff},
	{0x9f, 0xda, 0x3a, 0xff}, {0xd8, 0xe2, 0x19, 0xff}, {0xfd, 0xe7, 0x25, 0xff},
}

// colorAt maps t in [0, 1] to viridis, interpolating linearly. A t outside
// [0, 1] is clamped to it, and NaN maps to 0.
func colorAt(t float64) color.RGBA {
	if math.IsNaN(t) {
		t = 0
	}
	t = math.Min(math.Max(t, 0), 1) * float64(len(viridis)-1)
	i := int(t)
	if i >= len(viridis)-1 {
		return viridis[len(viridis)-1]
	}
	u := t - float64(i)
	a, b := viridis[i], viridis[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + u*(float64(y)-float64(x)))) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

// box is a rectangle of the plane.
type box struct{ x0, x1, y0, y1 float64 }

// lerp returns the point a fraction t of the way from a to b, without
// overflow where b−a is beyond the range of float64.
func lerp(a, b, t float64) float64 { return (1-t)*a + t*b }

// isFinite reports whether v is neither NaN nor ±Inf.
func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// extent returns a box holding all but the outer 0.5% of the finite values
// of each column of x (columns i and j), padded by 15%. It returns an error,
// naming the column (counting from 1), if a column has no finite value or
// its values span more than float64 can measure.
func extent(x mat.Matrix, i, j int) (box, error) {
	var b box
	var err error
	if b.x0, b.x1, err = span(x, i); err != nil {
		return box{}, err
	}
	if b.y0, b.y1, err = span(x, j); err != nil {
		return box{}, err
	}
	return b, nil
}

// span returns the padded range of the finite values of column c of x, as
// extent does for each of its columns.
func span(x mat.Matrix, c int) (lo, hi float64, err error) {
	n, _ := x.Dims()
	v := make([]float64, 0, n)
	for r := 0; r < n; r++ {
		if u := x.At(r, c); isFinite(u) {
			v = append(v, u)
		}
	}
	if len(v) == 0 {
		return 0, 0, fmt.Errorf("column %d: none of the %d values is finite", c+1, n)
	}
	sort.Float64s(v)
	m := len(v)
	lo, hi = v[int(0.005*float64(m-1))], v[int(math.Ceil(0.995*float64(m-1)))]
	if hi > lo {
		pad := 0.15*hi - 0.15*lo // 0.15(hi−lo) without overflow
		lo, hi = lo-pad, hi+pad
	} else {
		// One value: a box around it, wide enough to differ from it.
		pad := math.Max(1, math.Abs(lo)/10)
		lo, hi = lo-pad, hi+pad
	}
	if !isFinite(lo) || !isFinite(hi) || !isFinite(hi-lo) {
		return 0, 0, fmt.Errorf("column %d: the values run from %g to %g, too wide a range to draw", c+1, v[0], v[m-1])
	}
	return lo, hi, nil
}

// finiteRows moves the rows of x whose entries are all finite to its top,
// keeping their order, and returns them as a view of x with the number of
// rows left out.
func finiteRows(x *mat.Dense) (*mat.Dense, int) {
	n, d := x.Dims()
	k := 0
rows:
	for r := 0; r < n; r++ {
		row := x.RawRowView(r)
		for _, v := range row {
			if !isFinite(v) {
				continue rows
			}
		}
		if k != r {
			copy(x.RawRowView(k), row)
		}
		k++
	}
	if k == 0 {
		return nil, n
	}
	return x.Slice(0, k, 0, d).(*mat.Dense), n - k
}

// spreadRows returns the indices of at most k of n rows, evenly spread over
// them in increasing order: all n when n ≤ k. Spreading rather than taking
// the first k keeps a file sorted by some column fairly represented.
func spreadRows(n, k int) []int {
	if n <= k {
		k = n
	}
	idx := make([]int, max(k, 0))
	for i := range idx {
		idx[i] = int(int64(i) * int64(n) / int64(k))
	}
	return idx
}

// subsample returns at most k rows of x, picked by spreadRows; x itself when
// it has no more than k.
func subsample(x *mat.Dense, k int) *mat.Dense {
	n, _ := x.Dims()
	if n <= k {
		return x
	}
	return pickRows(x, spreadRows(n, k))
}

// axisLabels returns the labels of d columns: names when there are d of
// them (the model's or the data's column names), else x₁, x₂, ….
func axisLabels(names []string, d int) []string {
	if len(names) == d {
		return append([]string(nil), names...)
	}
	s := make([]string, d)
	for i := range s {
		s[i] = "x" + subscript(i+1)
	}
	return s
}

// subscript writes the non-negative integer i in Unicode subscript digits.
func subscript(i int) string {
	var b strings.Builder
	for _, r := range strconv.Itoa(i) {
		b.WriteRune('₀' + (r - '0'))
	}
	return b.String()
}

// newPlot returns a plot with a title, axis labels xl and yl, and the axes
// spanning b.
func newPlot(title, xl, yl string, b box) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text, p.Y.Label.Text = xl, yl
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = b.x0, b.x1, b.y0, b.y1
	return p
}

// densityPlot draws the density of a 2-D flow on a res×res grid over b as
// an image, brighter where denser, with the axes labelled xl and yl; for a
// conditional flow, the density given the context c (nil otherwise). Where
// the log-density is not finite on the grid (it underflows to −Inf
// everywhere for a model far narrower than b, say) the picture is flat or
// partly so, and the returned note, also in the title, says why; the note
// is "" for a density drawn in full.
func densityPlot(f *flow.Flow, c []float64, b box, res int, title, xl, yl string) (*plot.Plot, string) {
	pts := mat.NewDense(res*res, 2, nil)
	for r := 0; r < res; r++ {
		y := lerp(b.y1, b.y0, (float64(r)+0.5)/float64(res)) // image rows go down
		for c := 0; c < res; c++ {
			pts.Set(r*res+c, 0, lerp(b.x0, b.x1, (float64(c)+0.5)/float64(res)))
			pts.Set(r*res+c, 1, y)
		}
	}
	lp := f.LogProbGiven(nil, pts, repeatRows(c, res*res))
	t, note := relDensity(lp)
	img := image.NewRGBA(image.Rect(0, 0, res, res))
	for i, v := range t {
		img.SetRGBA(i%res, i/res, colorAt(v))
	}
	if note != "" {
		title += "\n(" + note + ")"
	}
	p := newPlot(title, xl, yl, b)
	p.Add(plotter.NewImage(img, b.x0, b.y0, b.x1, b.y1))
	return p, note
}

// relDensity returns p/max p for the log-densities lp, in [0, 1], with a
// note ("" if none) on the values that are not finite: NaN counts as 0, and
// where some are +Inf those are 1 and the rest 0.
func relDensity(lp []float64) ([]float64, string) {
	top := math.Inf(-1)
	var nan, inf, ninf int
	for _, v := range lp {
		switch {
		case math.IsNaN(v):
			nan++
		case math.IsInf(v, 1):
			inf++
		case math.IsInf(v, -1):
			ninf++
		case v > top:
			top = v
		}
	}
	t := make([]float64, len(lp))
	for i, v := range lp {
		switch {
		case inf > 0:
			if math.IsInf(v, 1) {
				t[i] = 1
			}
		case isFinite(v):
			t[i] = math.Exp(v - top)
		}
	}
	switch n := len(lp); {
	case inf > 0:
		return t, fmt.Sprintf("log p = +Inf at %d of %d points", inf, n)
	case ninf == n:
		return t, "log p = −Inf everywhere: drawn flat"
	case nan+ninf == n:
		return t, "log p is not finite anywhere: drawn flat"
	case nan > 0:
		return t, fmt.Sprintf("log p is NaN at %d of %d points", nan, n)
	}
	return t, ""
}

// scatterPlot draws columns i and j of the rows of x that lie in b as small
// dots. A titled plot with no row in b says so in its title.
func scatterPlot(x mat.Matrix, i, j int, b box, title, xl, yl string, col color.Color) (*plot.Plot, error) {
	n, _ := x.Dims()
	xy := make(plotter.XYs, 0, n)
	for r := 0; r < n; r++ {
		u, v := x.At(r, i), x.At(r, j)
		if u >= b.x0 && u <= b.x1 && v >= b.y0 && v <= b.y1 {
			xy = append(xy, plotter.XY{X: u, Y: v})
		}
	}
	if len(xy) == 0 && title != "" {
		title += fmt.Sprintf("\n(none of the %d in this range)", n)
	}
	p := newPlot(title, xl, yl, b)
	if len(xy) == 0 {
		return p, nil
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, err
	}
	s.GlyphStyle.Shape = draw.CircleGlyph{}
	s.GlyphStyle.Radius = vg.Points(1)
	s.GlyphStyle.Color = col
	p.Add(s)
	return p, nil
}

// scatterPlotBy draws columns i and j of the rows of x that lie in b as
// small dots, as scatterPlot does, row r coloured by v[r] on the viridis
// scale from the smallest of v (dark) to the largest (bright); the title
// says so, calling v by.
func scatterPlotBy(x mat.Matrix, i, j int, b box, title, xl, yl string, v []float64, by string) (*plot.Plot, error) {
	n, _ := x.Dims()
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, u := range v {
		lo, hi = math.Min(lo, u), math.Max(hi, u)
	}
	xy := make(plotter.XYs, 0, n)
	var col []color.Color
	for r := 0; r < n; r++ {
		u, w := x.At(r, i), x.At(r, j)
		if u >= b.x0 && u <= b.x1 && w >= b.y0 && w <= b.y1 {
			xy = append(xy, plotter.XY{X: u, Y: w})
			t := 0.5
			if hi > lo {
				t = (v[r] - lo) / (hi - lo)
			}
			k := colorAt(t)
			k.A = 0xc0
			col = append(col, color.NRGBA(k))
		}
	}
	title += fmt.Sprintf("\ncoloured by %s: %.3g dark to %.3g bright", by, lo, hi)
	if len(xy) == 0 {
		title += fmt.Sprintf("\n(none of the %d in this range)", n)
	}
	p := newPlot(title, xl, yl, b)
	if len(xy) == 0 {
		return p, nil
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, err
	}
	s.GlyphStyleFunc = func(k int) draw.GlyphStyle {
		return draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: vg.Points(1), Color: col[k]}
	}
	p.Add(s)
	return p, nil
}

// repeatRows returns an n-row matrix each of whose rows is c, nil for a
// nil c (no context).
func repeatRows(c []float64, n int) mat.Matrix {
	if c == nil {
		return nil
	}
	m := mat.NewDense(n, len(c), nil)
	for r := 0; r < n; r++ {
		m.SetRow(r, c)
	}
	return m
}

// Contexts that pickContexts returns as they are, when there are no more
// distinct ones, and the quantiles it takes otherwise.
const maxDistinctContexts = 4

var contextQuantiles = []float64{1.0 / 6, 0.5, 5.0 / 6}

// pickContexts returns a few contexts to draw a conditional density at,
// from the rows of c: its distinct rows when there are at most
// maxDistinctContexts (a class label, say), sorted; otherwise the rows at
// the contextQuantiles of the first column (for a context uniform on
// [0.5, 2], about 0.75, 1.25 and 1.75).
func pickContexts(c *mat.Dense) [][]float64 {
	n, k := c.Dims()
	less := func(a, b []float64) int {
		for j := range a {
			if a[j] != b[j] {
				if a[j] < b[j] {
					return -1
				}
				return 1
			}
		}
		return 0
	}
	var distinct [][]float64
	for r := 0; r < n && len(distinct) <= maxDistinctContexts; r++ {
		row := c.RawRowView(r)
		if !slices.ContainsFunc(distinct, func(d []float64) bool { return less(d, row) == 0 }) {
			distinct = append(distinct, append([]float64(nil), row...))
		}
	}
	if len(distinct) <= maxDistinctContexts {
		slices.SortFunc(distinct, less)
		return distinct
	}
	idx := make([]int, n)
	for r := range idx {
		idx[r] = r
	}
	slices.SortStableFunc(idx, func(a, b int) int { return less(c.RawRowView(a)[:1], c.RawRowView(b)[:1]) })
	out := make([][]float64, len(contextQuantiles))
	for i, q := range contextQuantiles {
		out[i] = append([]float64(nil), c.RawRowView(idx[int(math.Round(q*float64(n-1)))])[:k]...)
	}
	return out
}

var (
	dataColor     = color.NRGBA{0x1f, 0x4e, 0x99, 0x90}
	sampleColor   = color.NRGBA{0xc0, 0x39, 0x2b, 0x90}
	pairColor     = color.NRGBA{0xc0, 0x39, 0x2b, 0x50}
	pairDataColor = color.NRGBA{0x1f, 0x4e, 0x99, 0x50}
	histColor     = color.NRGBA{0xc0, 0x39, 0x2b, 0x70}
	dataLineColor = color.NRGBA{0x1f, 0x4e, 0x99, 0xff}
)

// writePanels draws a grid of plots, each side×side, as a PNG.
func writePanels(w io.Writer, plots [][]*plot.Plot, side vg.Length) error {
	return writeFigure(w, "", plots, side)
}

// writeFigure draws a grid of plots, each side×side, under a title (none
// if "") as a PNG. A nil plot leaves its tile blank.
func writeFigure(w io.Writer, title string, plots [][]*plot.Plot, side vg.Length) error {
	rows, cols := len(plots), len(plots[0])
	sty := plot.New().Title.TextStyle
	sty.Font.Size = vg.Points(14)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	var top vg.Length
	if title != "" {
		title = wrap(title, side*vg.Length(cols)-vg.Millimeter*8, sty.Width)
		top = sty.Height(title) + vg.Millimeter*4
	}
	c := vgimg.NewWith(vgimg.UseWH(side*vg.Length(cols), side*vg.Length(rows)+top), vgimg.UseDPI(96))
	dc := draw.New(c)
	// A white background.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	if title != "" {
		dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y - vg.Millimeter*2}, title)
		dc = draw.Crop(dc, 0, 0, 0, -top)
	}
	t := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] != nil {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	}
	_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

// wrap breaks s into lines at spaces so that each line, as measured by
// width, is at most w wide where the words allow.
func wrap(s string, w vg.Length, width func(string) vg.Length) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case width(line+" "+word) <= w:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return strings.Join(append(lines, line), "\n")
}

// histBins is the number of bins of a histogram panel.
const histBins = 40

// histogram returns the histogram of the values of column c of x in n
// equal bins over [lo, hi] as the fraction of all rows in each bin, so that
// histograms of different numbers of rows over the same bins compare. (A
// density, the fraction over the bin width, would overflow for a range
// narrower than 1/MaxFloat64.) Values outside [lo, hi], and values that are
// not finite, fall in no bin.
func histogram(x mat.Matrix, c int, lo, hi float64, n int) []float64 {
	rows, _ := x.Dims()
	h := make([]float64, n)
	for r := 0; r < rows; r++ {
		v := x.At(r, c)
		if !(v >= lo && v <= hi) {
			continue
		}
		k := min(int(float64(n)*((v-lo)/(hi-lo))), n-1)
		h[max(k, 0)]++
	}
	for k := range h {
		h[k] /= float64(rows)
	}
	return h
}

// addHist adds to p the histogram of column c of x over [lo, hi]:
// filled bars, or with a nil fill a step line in the line's colour.
func addHist(p *plot.Plot, x mat.Matrix, c int, lo, hi float64, fill, line color.Color) error {
	h := histogram(x, c, lo, hi, histBins)
	w := (hi - lo) / histBins
	if fill != nil {
		bins := make([]plotter.HistogramBin, histBins)
		for k := range bins {
			bins[k] = plotter.HistogramBin{Min: lerp(lo, hi, float64(k)/histBins), Max: lerp(lo, hi, float64(k+1)/histBins), Weight: h[k]}
		}
		p.Add(&plotter.Histogram{Bins: bins, Width: w, FillColor: fill})
		return nil
	}
	xy := make(plotter.XYs, histBins+1)
	for k := range xy {
		xy[k] = plotter.XY{X: lerp(lo, hi, float64(k)/histBins), Y: h[min(k, histBins-1)]}
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.StepStyle = plotter.PostStep
	l.LineStyle.Color = line
	l.LineStyle.Width = vg.Points(1.2)
	p.Add(l)
	return nil
}

// pairsPlot draws the pairwise marginals of columns cols of the samples s
// and, if data is not nil, of the data: histograms on the diagonal (the
// samples' filled, the data's a line), the samples' scatter plots above
// it and the data's below (the samples' on both sides without data). Each
// axis spans the data's range, or without data the samples'. The scatter
// panels draw the rows of sDots and dataDots, subsamples of s and data;
// the ranges and histograms use all rows.
func pairsPlot(s, sDots, data, dataDots mat.Matrix, cols []int, labels []string) ([][]*plot.Plot, error) {
	k := len(cols)
	ref := s
	if data != nil {
		ref = data
	}
	lo, hi := make([]float64, k), make([]float64, k)
	for a, c := range cols {
		var err error
		if lo[a], hi[a], err = span(ref, c); err != nil {
			return nil, err
		}
	}
	plots := make([][]*plot.Plot, k)
	for a := range plots {
		plots[a] = make([]*plot.Plot, k)
		for b := range plots[a] {
			xl, yl := "", ""
			if a == k-1 {
				xl = labels[cols[b]]
			}
			if b == 0 {
				yl = labels[cols[a]]
			}
			if a == b {
				p := plot.New()
				p.X.Label.Text, p.Y.Label.Text = xl, yl
				p.X.Min, p.X.Max, p.Y.Min = lo[a], hi[a], 0
				p.Y.Tick.Marker = plot.ConstantTicks(nil) // its y axis is not column a
				if err := addHist(p, s, cols[a], lo[a], hi[a], histColor, nil); err != nil {
					return nil, err
				}
				if data != nil {
					if err := addHist(p, data, cols[a], lo[a], hi[a], nil, dataLineColor); err != nil {
						return nil, err
					}
				}
				plots[a][b] = p
				continue
			}
			x, col := sDots, pairColor
			if a > b && data != nil {
				x, col = dataDots, pairDataColor
			}
			p, err := scatterPlot(x, cols[b], cols[a], box{lo[b], hi[b], lo[a], hi[a]}, "", xl, yl, col)
			if err != nil {
				return nil, err
			}
			plots[a][b] = p
		}
	}
	return plots, nil
}

// linePlot draws the density of a 1-D flow (given the context c for a
// conditional flow, nil otherwise) as a curve over [lo, hi] over
// the histograms of the samples s (filled) and, if not nil, of the data (a
// line). The curve is p(x) times the width of a bin, on the histograms'
// scale. Where log p is not finite the curve has a gap, and the returned
// note, also in the title, says so.
func linePlot(f *flow.Flow, c []float64, s, data mat.Matrix, lo, hi float64, title, xl string) (*plot.Plot, string, error) {
	const res = 400
	pts := mat.NewDense(res, 1, nil)
	for i := 0; i < res; i++ {
		pts.Set(i, 0, lerp(lo, hi, float64(i)/(res-1)))
	}
	lp := f.LogProbGiven(nil, pts, repeatRows(c, res))
	_, note := relDensity(lp)
	if note != "" {
		title = strings.TrimPrefix(title+"\n("+note+")", "\n")
	}
	p := newPlot(title, xl, "fraction per bin", box{lo, hi, 0, 0})
	if err := addHist(p, s, 0, lo, hi, histColor, nil); err != nil {
		return nil, "", err
	}
	if data != nil {
		if err := addHist(p, data, 0, lo, hi, nil, dataLineColor); err != nil {
			return nil, "", err
		}
	}
	logw := math.Log(hi/histBins - lo/histBins)
	var xy plotter.XYs
	for i, v := range lp {
		if e := math.Exp(v + logw); isFinite(e) {
			xy = append(xy, plotter.XY{X: pts.At(i, 0), Y: e})
		}
	}
	if len(xy) > 0 {
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, "", err
		}
		l.LineStyle.Width = vg.Points(1.5)
		p.Add(l)
	}
	return p, note, nil
}

// colNames returns the default column names x1, …, xd.
func colNames(d int) []string {
	s := make([]string, d)
	for i := range s {
		s[i] = fmt.Sprintf("x%d", i+1)
	}
	return s
}
