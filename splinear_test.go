// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// splineARFlow is arFlow with spline layers of K = 4 bins on [−2, 2]: three
// layers of the three orders, parameters drawn from N(0, scale²).
func splineARFlow(t *testing.T, iaf bool, d int, hidden []int, act Activation, scale float64, seed uint64) *Flow {
	t.Helper()
	sp := mustSpline(t, 4, 2)
	return arFlowOf(t, iaf, AutoregressiveConfig{Dim: d, Hidden: hidden, Activation: act, Seed: seed, Spline: &sp}, scale)
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
// are known before the pass), at ±B and in the tails, out to ±1e300, map
// back to themselves to 1e-10, for D = 1, …, 6 (but see flat below).
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
					// Far tails. With D > 1 and no hidden layer (a linear
					// MADE) they drive the later positions' θ to logits
					// of 1e300, whose splines are so flat (slopes below
					// 1e-8) that no inverse recovers those positions to
					// 1e-10: there the rows must stay finite and the tail
					// entry come back exactly.
					far := len(vals)
					vals = append(vals, 1e6, -1e300, 1e300)
					flat := d > 1 && hidden == nil
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
						checkFinite(t, name, out, back, ld1, ld2)
						for j := range rows {
							if r := j / d; flat && r >= far {
								if j == r*d+i0 && back[j] != rows[j] {
									t.Errorf("%s/fwdFirst=%v: tail entry %d: %v came back as %v", name, fwdFirst, j, rows[j], back[j])
								}
								continue
							}
							if e := math.Abs(back[j] - rows[j]); !(e <= 1e-10*math.Max(1, math.Abs(rows[j]))) {
								t.Errorf("%s/fwdFirst=%v: entry %d: %v came back as %v", name, fwdFirst, j, rows[j], back[j])
							}
						}
						for r := range ld1 {
							if flat && r >= far {
								continue
							}
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
					checkIncremental(t, name, a, n, d, nc, fwd)
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

// splineARFlowC is splineARFlow with a context of width nc in every layer.
func splineARFlowC(t *testing.T, iaf bool, d, nc int, hidden []int, act Activation, scale float64, seed uint64) *Flow {
	t.Helper()
	sp := mustSpline(t, 4, 2)
	var layers []Layer
	for i, o := range []OrderKind{RandomOrder, ReversedOrder} {
		c := AutoregressiveConfig{Dim: d, Hidden: hidden, Activation: act, Order: o, Degrees: RandomDegrees, Seed: seed + uint64(i), ContextDim: nc, Spline: &sp}
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

// TestSplineARContextGradients: with a context, every parameter's gradient
// and ∂/∂c and ∂/∂x of maximum likelihood through spline MAF layers, and
// every parameter's and ∂/∂c of reverse KL through spline IAF layers,
// against finite differences.
func TestSplineARContextGradients(t *testing.T) {
	for _, d := range []int{1, 2, 4} {
		for _, nc := range []int{1, 3} {
			for _, hidden := range [][]int{nil, {6}, {7, 5}} {
				for _, act := range []Activation{ReLU, Tanh} {
					name := fmt.Sprintf("D=%d/C=%d/%v/%v", d, nc, hidden, act)
					checkFlowGradsC(t, "maf/"+name, splineARFlowC(t, false, d, nc, hidden, act, 0.4, 3), true, false)
					checkFlowGradsC(t, "iaf/"+name, splineARFlowC(t, true, d, nc, hidden, act, 0.4, 4), false, true)
				}
			}
		}
	}
}

// numLogDet5 is numLogDet with five-point central differences of step h,
// for maps whose pieces are sharp.
func numLogDet5(d int, apply func(dst, src []float64), at []float64, h float64) float64 {
	jac := mat.NewDense(d, d, nil)
	x := append([]float64(nil), at...)
	ys := make([][]float64, 4)
	for k := range ys {
		ys[k] = make([]float64, d)
	}
	for j := 0; j < d; j++ {
		for k, s := range []float64{-2, -1, 1, 2} {
			x[j] = at[j] + s*h
			apply(ys[k], x)
		}
		x[j] = at[j]
		for i := 0; i < d; i++ {
			jac.Set(i, j, (ys[0][i]-8*ys[1][i]+8*ys[2][i]-ys[3][i])/(12*h))
		}
	}
	var lu mat.LU
	lu.Factorize(jac)
	ld, _ := lu.LogDet()
	return ld
}

// TestSplineARLogDet compares both directions' log-dets of spline MAF and
// IAF layers with those of five-point numerical Jacobians.
func TestSplineARLogDet(t *testing.T) {
	for _, d := range []int{1, 2, 3, 6} {
		for _, hidden := range splineARHidden {
			for _, iaf := range []bool{false, true} {
				f := splineARFlow(t, iaf, d, hidden, Tanh, 0.4, 5)
				for li, l := range f.Layers() {
					name := fmt.Sprintf("iaf=%v/D=%d/%v/layer %d", iaf, d, hidden, li)
					rows := randomRows(4, d, 9)
					work := make([]float64, l.WorkLen(1))
					for dir := 0; dir < 2; dir++ {
						apply := func(dst, src []float64) {
							ld := []float64{0}
							if dir == 0 {
								l.Forward(dst, src, nil, ld, work)
							} else {
								l.Inverse(dst, src, nil, ld, work)
							}
						}
						for r := 0; r < 4; r++ {
							at := rows[r*d : (r+1)*d]
							ld := []float64{0}
							out := make([]float64, d)
							if dir == 0 {
								l.Forward(out, at, nil, ld, work)
							} else {
								l.Inverse(out, at, nil, ld, work)
							}
							want := numLogDet5(d, apply, at, 1e-5)
							if math.Abs(ld[0]-want) > 1e-7*math.Max(1, math.Abs(want)) {
								t.Errorf("%s: direction %d row %d: log|det| %.12g, numerical %.12g", name, dir, r, ld[0], want)
							}
							if ld[0] == 0 {
								t.Errorf("%s: direction %d row %d: log|det| 0: the check checks nothing", name, dir, r)
							}
						}
					}
				}
			}
		}
	}
}

// TestSplineARAutoregressive: ∂θ_i/∂x_j = 0 unless j comes before i in the
// order, and the MADE's output rows of a dimension, in the export layout,
// are rows i·P, …, (i+1)·P − 1: perturbing x_j changes exactly the
// parameters of the dimensions after j, by the export-layout masks.
func TestSplineARAutoregressive(t *testing.T) {
	sp := mustSpline(t, 3, 2)
	P := sp.ParamsPerDim()
	for _, d := range []int{1, 3, 5} {
		for _, hidden := range [][]int{nil, {d + 2, 2 * d}} {
			m, err := newARMADE("test", AutoregressiveConfig{Dim: d, Hidden: hidden, Activation: Tanh, Order: RandomOrder, Degrees: RandomDegrees, Seed: 7, Spline: &sp})
			if err != nil {
				t.Fatal(err)
			}
			randomizeMADE(m, 0.5, 8)
			if got := m.NumLayers(); got != len(hidden)+1 {
				t.Fatalf("%d layers", got)
			}
			if r, _ := m.Mask(m.NumLayers() - 1).Dims(); r != P*d {
				t.Fatalf("D=%d: output layer has %d rows, want %d", d, r, P*d)
			}
			// eval returns θ of one row x in the export layout: row
			// i·P + k of the output is parameter k of dimension i.
			eval := func(x []float64) []float64 {
				in := make([]float64, d)
				for p, i := range m.order {
					in[p] = x[i]
				}
				o := m.forward(in, 1, make([]float64, m.workLen(1)))
				th := make([]float64, P*d)
				for i := 0; i < d; i++ {
					copy(th[i*P:(i+1)*P], o[m.pos[i]*P:(m.pos[i]+1)*P])
				}
				return th
			}
			if hidden == nil {
				// Without hidden layers the output mask in the export
				// layout is the dependency structure itself.
				mk := m.Mask(0)
				for i := 0; i < d; i++ {
					for k := 0; k < P; k++ {
						for j := 0; j < d; j++ {
							if want := m.pos[j] < m.pos[i]; (mk.At(i*P+k, j) == 1) != want {
								t.Errorf("D=%d: export mask (%d, %d) is %v, want %v", d, i*P+k, j, mk.At(i*P+k, j), want)
							}
						}
					}
				}
			}
			x := randomRows(1, d, 3)
			base := eval(x)
			for j := 0; j < d; j++ {
				x2 := append([]float64(nil), x...)
				x2[j] += 0.3
				got := eval(x2)
				for i := 0; i < d; i++ {
					for k := 0; k < P; k++ {
						r := i*P + k
						changed := got[r] != base[r]
						before := m.pos[j] < m.pos[i]
						if changed && !before {
							t.Errorf("D=%d/%v: θ_%d[%d] depends on x_%d, which does not come before it", d, hidden, i, k, j)
						}
						if !changed && before {
							t.Errorf("D=%d/%v: θ_%d[%d] does not depend on x_%d, which comes before it", d, hidden, i, k, j)
						}
					}
				}
			}
		}
	}
}

// TestSplineARAllocs: steady-state training, LogProb and Sample of spline
// MAF and IAF flows allocate nothing.
func TestSplineARAllocs(t *testing.T) {
	sp := mustSpline(t, 8, 3)
	checkARAllocs(t, AutoregressiveFlowConfig{Dim: 5, Layers: 2, Hidden: []int{8, 8}, Activation: ReLU, Spline: &sp})
}

// TestSplineARParallelDeterminism: training spline MAF (maximum likelihood)
// and IAF (reverse KL) flows gives the same bits for 1, 2, 3 and 8
// goroutines.
func TestSplineARParallelDeterminism(t *testing.T) {
	sp := mustSpline(t, 6, 3)
	cfg := AutoregressiveFlowConfig{Dim: 3, Layers: 3, Hidden: []int{16, 16}, Activation: Tanh, Seed: 1, Spline: &sp}
	mf, err := NewMAFFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(mf, 0.2, 3)
	checkDeterminism(t, "spline-maf/ml", mf, false, 1, 2, 3, 8)
	nf, err := NewIAFFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(nf, 0.2, 3)
	checkDeterminism(t, "spline-iaf/kl", nf, true, 1, 2, 3, 8)
}

// TestSplineARBadConfig: an invalid spline, or a clamp beside a spline, is
// an error; the layer keeps a copy of its spline.
func TestSplineARBadConfig(t *testing.T) {
	sp := mustSpline(t, 4, 2)
	bad := RQSpline{Bins: 4, Bound: -1, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	for name, c := range map[string]AutoregressiveConfig{
		"bad spline": {Dim: 3, Spline: &bad},
		"clamp":      {Dim: 3, Spline: &sp, Clamp: 2},
	} {
		if _, err := NewMAF(c); err == nil {
			t.Errorf("NewMAF: %s: no error", name)
		}
		if _, err := NewIAF(c); err == nil {
			t.Errorf("NewIAF: %s: no error", name)
		}
		fc := AutoregressiveFlowConfig{Dim: 3, Layers: 2, Spline: c.Spline, Clamp: c.Clamp}
		if _, err := NewMAFFlow(fc); err == nil {
			t.Errorf("NewMAFFlow: %s: no error", name)
		}
		if _, err := NewIAFFlow(fc); err == nil {
			t.Errorf("NewIAFFlow: %s: no error", name)
		}
	}
	s := sp
	l, err := NewMAF(AutoregressiveConfig{Dim: 2, Spline: &s})
	if err != nil {
		t.Fatal(err)
	}
	s.Bins = 9
	if got := l.Spline(); got == nil || *got != sp {
		t.Errorf("Spline() = %v, want a copy of %v", got, sp)
	}
	if a, err := NewIAF(AutoregressiveConfig{Dim: 2}); err != nil || a.Spline() != nil {
		t.Errorf("an affine layer's Spline() = %v (%v), want nil", a.Spline(), err)
	}
}
