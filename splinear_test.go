// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// splineARFlow is arFlow with spline layers of K = 4 bins on [−2, 2]: three
// layers of the three orders, parameters drawn from N(0, scale²).
func splineARFlow(t *testing.T, iaf bool, d int, hidden []int, act Activation, scale float64, seed uint64) *Flow {
	t.Helper()
	sp := mustSpline(t, 4, 2)
	perm := rand.New(rand.NewPCG(seed, 9)).Perm(d)
	cfgs := []AutoregressiveConfig{
		{Order: RandomOrder, Degrees: RandomDegrees},
		{Order: ReversedOrder, Degrees: SequentialDegrees},
		{Order: ExplicitOrder, Perm: perm, Degrees: RandomDegrees},
	}
	var layers []Layer
	for i, c := range cfgs {
		c.Dim, c.Hidden, c.Activation, c.Seed, c.Spline = d, hidden, act, seed+uint64(i), &sp
		var l Layer
		var err error
		if iaf {
			l, err = NewIAF(c)
		} else {
			l, err = NewMAF(c)
		}
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	f, err := New(layers...)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, scale, seed)
	return f
}

var splineARHidden = [][]int{nil, {6}, {7, 5}}

// TestSplineARGradients checks every parameter's gradient of maximum
// likelihood through the one-pass direction of spline MAF layers, and of
// reverse KL through that of spline IAF layers, against finite differences;
// and the other objective of each through the inverted layers.
func TestSplineARGradients(t *testing.T) {
	for _, d := range []int{1, 2, 4} {
		for _, hidden := range splineARHidden {
			for _, act := range []Activation{ReLU, Tanh} {
				name := fmt.Sprintf("D=%d/%v/%v", d, hidden, act)
				f := splineARFlow(t, false, d, hidden, act, 0.4, 3)
				checkFlowGrads(t, "maf/"+name, f, true, false)
				inv, err := New(Invert(f.layers[2]), Invert(f.layers[1]), Invert(f.layers[0]))
				if err != nil {
					t.Fatal(err)
				}
				checkFlowGrads(t, "inverted-maf/"+name, inv, false, true)
				g := splineARFlow(t, true, d, hidden, act, 0.4, 4)
				checkFlowGrads(t, "iaf/"+name, g, false, true)
				inv, err = New(Invert(g.layers[2]), Invert(g.layers[1]), Invert(g.layers[0]))
				if err != nil {
					t.Fatal(err)
				}
				checkFlowGrads(t, "inverted-iaf/"+name, inv, true, false)
			}
		}
	}
}

// TestSplineARRoundTrip: Inverse(Forward(z)) = z to 1e-10, with the
// log-dets opposite, for D = 1, …, 6, with and without hidden layers.
func TestSplineARRoundTrip(t *testing.T) {
	for d := 1; d <= 6; d++ {
		for _, hidden := range [][]int{nil, {16, 16}} {
			for _, iaf := range []bool{false, true} {
				f := splineARFlow(t, iaf, d, hidden, Tanh, 0.3, uint64(d))
				roundTrip(t, fmt.Sprintf("iaf=%v/D=%d/%v", iaf, d, hidden), f, 70, 1e-10)
			}
		}
	}
}

// TestSplineARRoundTripKnots: rows whose first position lies on a knot of
// its spline (the first position's θ is the MADE's bias alone, so its knots
// are known before the pass), at ±B and in the tails (far out with D = 1)
// map back to themselves to 1e-10.
func TestSplineARRoundTripKnots(t *testing.T) {
	for d := 1; d <= 6; d++ {
		for _, hidden := range [][]int{nil, {12}} {
			for _, iaf := range []bool{false, true} {
				f := splineARFlow(t, iaf, d, hidden, Tanh, 0.3, uint64(d)+20)
				for li, l := range f.layers {
					a := arOf(l)
					m := a.made
					sp := *a.spline
					P := sp.ParamsPerDim()
					_, b := m.layer(m.params, m.NumLayers())
					xs, ys := splineKnots(sp, b[:P], 1, 0)
					i0 := m.order[0]
					var vals []float64
					vals = append(vals, xs...)
					vals = append(vals, ys...)
					vals = append(vals, -2.5, 2.5, math.Nextafter(2, 0), math.Nextafter(2, 3))
					if d == 1 {
						// Far tails: with D > 1 they would also drive
						// the later positions' θ to absurd logits.
						vals = append(vals, 1e6, -1e300)
					}
					n := len(vals)
					rows := randomRows(n, d, 5)
					for r, v := range vals {
						rows[r*d+i0] = v
					}
					name := fmt.Sprintf("iaf=%v/D=%d/%v/layer %d", iaf, d, hidden, li)
					for _, fwdFirst := range []bool{true, false} {
						out, back := make([]float64, n*d), make([]float64, n*d)
						ld1, ld2 := make([]float64, n), make([]float64, n)
						work := make([]float64, l.WorkLen(n))
						if fwdFirst {
							l.Forward(out, rows, nil, ld1, work)
							l.Inverse(back, out, nil, ld2, work)
						} else {
							l.Inverse(out, rows, nil, ld1, work)
							l.Forward(back, out, nil, ld2, work)
						}
						for j := range rows {
							if e := math.Abs(back[j] - rows[j]); !(e <= 1e-10*math.Max(1, math.Abs(rows[j]))) {
								t.Errorf("%s/fwdFirst=%v: entry %d: %v came back as %v", name, fwdFirst, j, rows[j], back[j])
							}
						}
						for r := range ld1 {
							if e := ld1[r] + ld2[r]; !(math.Abs(e) <= 1e-10*math.Max(1, math.Abs(ld1[r]))) {
								t.Errorf("%s/fwdFirst=%v: row %d: log-dets %v and %v", name, fwdFirst, r, ld1[r], ld2[r])
							}
						}
					}
				}
			}
		}
	}
}

// arOf returns the arLayer of a MAF or IAF layer.
func arOf(l Layer) *arLayer {
	switch l := l.(type) {
	case *MAF:
		return &l.arLayer
	case *IAF:
		return &l.arLayer
	}
	panic("not an autoregressive layer")
}

// TestSplineARSequential: the sequential direction of a spline layer gives
// bit for bit what D full MADE passes give, from a workspace full of NaN.
func TestSplineARSequential(t *testing.T) {
	sp := RQSpline{Bins: 5, Bound: 2.5, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	for _, d := range []int{1, 2, 5, 9} {
		for _, hidden := range [][]int{nil, {max(d-1, 1)}, {2 * d, d + 3}, {d + 1, 3 * d, d}} {
			for _, nc := range []int{0, 2} {
				if nc > 0 && len(hidden) > 0 && hidden[0] < d {
					continue // a context needs D units per hidden layer
				}
				for _, fwd := range []bool{true, false} {
					name := fmt.Sprintf("D=%d/%v/C=%d/fwd=%v", d, hidden, nc, fwd)
					m, err := newARMADE("test", AutoregressiveConfig{Dim: d, Hidden: hidden, Activation: ReLU, Order: RandomOrder, Degrees: RandomDegrees, Seed: 5, ContextDim: nc, Spline: &sp})
					if err != nil {
						t.Fatal(err)
					}
					a := &arLayer{made: m, spline: &sp}
					randomizeMADE(m, 0.3, 6)
					const n = 7
					in := randomRows(n, d, 8)
					ctx := randomRows(n, nc, 9)
					work := make([]float64, a.WorkLen(n))
					for i := range work {
						work[i] = math.NaN()
					}
					got, want := make([]float64, n*d), make([]float64, n*d)
					ldGot, ldWant := make([]float64, n), make([]float64, n)
					a.sequential(got, in, ctx, ldGot, work, fwd)
					a.sequentialNaive(want, in, ctx, ldWant, make([]float64, a.WorkLen(n)), fwd)
					for i := range got {
						if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
							t.Fatalf("%s: entry %d: incremental %v, naive %v", name, i, got[i], want[i])
						}
					}
					for i := range ldGot {
						if math.Float64bits(ldGot[i]) != math.Float64bits(ldWant[i]) {
							t.Fatalf("%s: log-det %d: incremental %v, naive %v", name, i, ldGot[i], ldWant[i])
						}
					}
					if maxAbsDiff(got, in) == 0 {
						t.Fatalf("%s: the layer is the identity: the comparison checks nothing", name)
					}
				}
			}
		}
	}
}

// TestSplineARPasses: log-density takes one MADE pass per spline MAF layer
// and sampling D; the other way round for spline IAF layers.
func TestSplineARPasses(t *testing.T) {
	const d, n = 5, evalShard
	sp := mustSpline(t, 6, 3)
	for _, iaf := range []bool{false, true} {
		build := NewMAFFlow
		lp, smp := int64(1), int64(d)
		if iaf {
			build, lp, smp = NewIAFFlow, d, 1
		}
		f, err := build(AutoregressiveFlowConfig{Dim: d, Layers: 3, Hidden: []int{8}, Seed: 1, Spline: &sp})
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(f, 0.3, 1)
		checkPasses(t, fmt.Sprintf("spline iaf=%v", iaf), f, n, lp, smp)
	}
}

// TestSplineARStartsAsIdentity: new spline MAF and IAF flows are exactly
// the identity in both directions, with zero log-dets, inside the interval,
// on its edges and in the tails.
func TestSplineARStartsAsIdentity(t *testing.T) {
	sp := mustSpline(t, 8, 3)
	for _, build := range []func(AutoregressiveFlowConfig) (*Flow, error){NewMAFFlow, NewIAFFlow} {
		f, err := build(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{4}, Activation: Tanh, Seed: 3, Spline: &sp})
		if err != nil {
			t.Fatal(err)
		}
		z := mat.NewDense(3, 3, []float64{1, 2, -0.3, -4, 3, -3, 0.75, -2.999, 1e9})
		var x, back mat.Dense
		ld := make([]float64, 3)
		f.Forward(&x, z, ld)
		f.Inverse(&back, z, nil)
		if !mat.Equal(&x, z) || !mat.Equal(&back, z) || ld[0] != 0 || ld[1] != 0 || ld[2] != 0 {
			t.Errorf("a new spline flow is not the identity: Forward %v, Inverse %v, log-det %v", x.RawMatrix().Data, back.RawMatrix().Data, ld)
		}
	}
}
