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
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/nfgo/flow"
)

// viridis holds matplotlib's viridis colour map at 0, 1/8, …, 1.
var viridis = []color.RGBA{
	{0x44, 0x01, 0x54, 0xff}, {0x46, 0x32, 0x7e, 0xff}, {0x36, 0x5c, 0x8d, 0xff},
	{0x27, 0x7f, 0x8e, 0xff}, {0x1f, 0xa1, 0x87, 0xff}, {0x4a, 0xc1, 0x6d, 0xff},
	{0x9f, 0xda, 0x3a, 0xff}, {0xd8, 0xe2, 0x19, 0xff}, {0xfd, 0xe7, 0x25, 0xff},
}

// colorAt maps t in [0, 1] to viridis, interpolating linearly.
func colorAt(t float64) color.RGBA {
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

// extent returns a box holding all but the outer 0.5% of each column of
// x (columns i and j), padded by 15%.
func extent(x mat.Matrix, i, j int) box {
	q := func(c int) (float64, float64) {
		n, _ := x.Dims()
		v := make([]float64, n)
		for r := range v {
			v[r] = x.At(r, c)
		}
		sort.Float64s(v)
		lo, hi := v[int(0.005*float64(n-1))], v[int(math.Ceil(0.995*float64(n-1)))]
		if !(hi > lo) {
			lo, hi = lo-1, hi+1
		}
		pad := 0.15 * (hi - lo)
		return lo - pad, hi + pad
	}
	var b box
	b.x0, b.x1 = q(i)
	b.y0, b.y1 = q(j)
	return b
}

func newPlot(title, xl, yl string, b box) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text, p.Y.Label.Text = xl, yl
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = b.x0, b.x1, b.y0, b.y1
	return p
}

// densityPlot draws the density of a 2-D flow on a res×res grid over b as
// an image, brighter where denser.
func densityPlot(f *flow.Flow, b box, res int, title string) *plot.Plot {
	pts := mat.NewDense(res*res, 2, nil)
	for r := 0; r < res; r++ {
		y := b.y1 - (float64(r)+0.5)*(b.y1-b.y0)/float64(res) // image rows go down
		for c := 0; c < res; c++ {
			pts.Set(r*res+c, 0, b.x0+(float64(c)+0.5)*(b.x1-b.x0)/float64(res))
			pts.Set(r*res+c, 1, y)
		}
	}
	lp := f.LogProb(nil, pts)
	top := math.Inf(-1)
	for _, v := range lp {
		if v > top {
			top = v
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, res, res))
	for i, v := range lp {
		t := 0.0
		if !math.IsNaN(v) {
			t = math.Exp(v - top)
		}
		img.SetRGBA(i%res, i/res, colorAt(t))
	}
	p := newPlot(title, "x₁", "x₂", b)
	p.Add(plotter.NewImage(img, b.x0, b.y0, b.x1, b.y1))
	return p
}

// scatterPlot draws columns i and j of the rows of x as small dots.
func scatterPlot(x mat.Matrix, i, j int, b box, title, xl, yl string, col color.Color) (*plot.Plot, error) {
	n, _ := x.Dims()
	xy := make(plotter.XYs, 0, n)
	for r := 0; r < n; r++ {
		u, v := x.At(r, i), x.At(r, j)
		if u >= b.x0 && u <= b.x1 && v >= b.y0 && v <= b.y1 {
			xy = append(xy, plotter.XY{X: u, Y: v})
		}
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

var (
	dataColor   = color.NRGBA{0x1f, 0x4e, 0x99, 0x90}
	sampleColor = color.NRGBA{0xc0, 0x39, 0x2b, 0x90}
	pairColor   = color.NRGBA{0xc0, 0x39, 0x2b, 0x50}
)

// writePanels draws a grid of plots, each side×side, as a PNG.
func writePanels(w io.Writer, plots [][]*plot.Plot, side vg.Length) error {
	rows, cols := len(plots), len(plots[0])
	c := vgimg.NewWith(vgimg.UseWH(side*vg.Length(cols), side*vg.Length(rows)), vgimg.UseDPI(96))
	dc := draw.New(c)
	// A white background.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
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

// pairsPlot draws the pairwise marginals of the rows of x (at most 6
// columns): histograms on the diagonal, scatter plots elsewhere.
func pairsPlot(x mat.Matrix, names []string) ([][]*plot.Plot, error) {
	_, d := x.Dims()
	d = min(d, 6)
	plots := make([][]*plot.Plot, d)
	boxes := make([]box, d)
	for i := 0; i < d; i++ {
		b := extent(x, i, i)
		boxes[i] = b
	}
	for i := 0; i < d; i++ {
		plots[i] = make([]*plot.Plot, d)
		for j := 0; j < d; j++ {
			xl, yl := "", ""
			if i == d-1 {
				xl = names[j]
			}
			if j == 0 {
				yl = names[i]
			}
			if i == j {
				n, _ := x.Dims()
				v := make(plotter.Values, 0, n)
				for r := 0; r < n; r++ {
					if u := x.At(r, i); u >= boxes[i].x0 && u <= boxes[i].x1 {
						v = append(v, u)
					}
				}
				p := plot.New()
				p.X.Label.Text, p.Y.Label.Text = xl, yl
				p.X.Min, p.X.Max = boxes[i].x0, boxes[i].x1
				if len(v) > 0 {
					h, err := plotter.NewHist(v, 40)
					if err != nil {
						return nil, err
					}
					h.FillColor = sampleColor
					h.LineStyle.Width = 0
					p.Add(h)
				}
				plots[i][j] = p
				continue
			}
			b := box{boxes[j].x0, boxes[j].x1, boxes[i].x0, boxes[i].x1}
			p, err := scatterPlot(x, j, i, b, "", xl, yl, pairColor)
			if err != nil {
				return nil, err
			}
			plots[i][j] = p
		}
	}
	return plots, nil
}

func colNames(d int) []string {
	s := make([]string, d)
	for i := range s {
		s[i] = fmt.Sprintf("x%d", i+1)
	}
	return s
}
