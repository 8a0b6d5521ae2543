// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"
)

// The tests of conditional MADE, MAF and IAF layers (a context of dimension
// C > 0; docs/design.md §1.6, §1.7).

// TestMADEContextAutoregressive: with a context, the outputs still obey the
// order among the inputs x (∂/∂x zero where the order forbids it, non-zero
// elsewhere) and every output depends on every context input, for every
// kind of order, hidden sizes down to none and down to D units, and D = 1
// (where the outputs depend on c alone).
func TestMADEContextAutoregressive(t *testing.T) {
	for _, d := range []int{1, 2, 3, 5} {
		for _, nc := range []int{1, 3} {
			for _, hidden := range [][]int{nil, {d}, {d, d}, {d + 4, d, 2 * d}} {
				for _, oc := range madeOrders(d) {
					for _, deg := range []DegreeKind{SequentialDegrees, RandomDegrees} {
						for _, act := range []Activation{Tanh, ReLU} {
							cfg := oc
							cfg.Dim, cfg.Hidden, cfg.Degrees, cfg.Activation, cfg.ContextDim = d, hidden, deg, act, nc
							cfg.Seed += 1000
							name := fmt.Sprintf("D=%d/C=%d/%v/%v/%v/%v", d, nc, hidden, cfg.Order, deg, act)
							m, err := NewMADE(cfg)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							randomizeMADE(m, 0.7, uint64(d))
							checkAutoregressive(t, name, m, act == Tanh)
						}
					}
				}
			}
		}
	}
	// Explicit degrees with units of degree 0: those see the context
	// alone, and the first dimension's outputs see just them.
	m, err := NewMADE(MADEConfig{Dim: 3, Hidden: []int{4, 3}, Activation: Tanh, Order: ReversedOrder, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{0, 1, 2, 2}, {0, 1, 2}}, ContextDim: 2})
	if err != nil {
		t.Fatal(err)
	}
	randomizeMADE(m, 0.7, 2)
	checkAutoregressive(t, "explicit", m, true)
	if got := m.HiddenDegrees(0); fmt.Sprint(got) != "[0 1 2 2]" {
		t.Errorf("explicit degrees: %v", got)
	}
}

// TestMADEContextDegrees: with a context the hidden degrees run 0, …, D−1,
// every one present; a unit of degree 0 sees the context alone in the first
// layer, and the first layer's every unit sees the whole context.
func TestMADEContextDegrees(t *testing.T) {
	for _, deg := range []DegreeKind{SequentialDegrees, RandomDegrees} {
		m, err := NewMADE(MADEConfig{Dim: 4, Hidden: []int{9, 4}, Degrees: deg, ContextDim: 3, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		for l := range m.Hidden() {
			seen := map[int]bool{}
			for _, v := range m.HiddenDegrees(l) {
				seen[v] = true
			}
			if len(seen) != 4 || !seen[0] || !seen[3] {
				t.Errorf("%v: hidden layer %d: degrees %v, want all of 0, …, 3", deg, l, m.HiddenDegrees(l))
			}
		}
		mk := m.Mask(0)
		for k, v := range m.HiddenDegrees(0) {
			ones := 0.0
			for j := 0; j < 4; j++ {
				ones += mk.At(k, j)
			}
			for j := 4; j < 7; j++ {
				if mk.At(k, j) != 1 {
					t.Errorf("%v: unit %d does not see context input %d", deg, k, j-4)
				}
			}
			if int(ones) != v {
				t.Errorf("%v: unit %d of degree %d sees %v inputs x, want %d", deg, k, v, ones, v)
			}
		}
	}
	// With the sequential degrees, unit k (before sorting) has k mod D.
	m, err := NewMADE(MADEConfig{Dim: 3, Hidden: []int{7}, ContextDim: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(m.HiddenDegrees(0)); got != "[0 0 0 1 1 2 2]" {
		t.Errorf("sequential degrees with a context: %s, want [0 0 0 1 1 2 2]", got)
	}
}

// TestMADEContextInit: the initial weights of a hidden unit are drawn from
// U(−1/√lim, 1/√lim), lim counting the context inputs; the context weights
// are among them; the output layer is zero.
func TestMADEContextInit(t *testing.T) {
	const d, nc = 3, 4
	m, err := NewMADE(MADEConfig{Dim: d, Hidden: []int{6, 5}, ContextDim: nc, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	w, mk := m.Weights(0), m.Mask(0)
	for k, v := range m.HiddenDegrees(0) {
		lim := v + nc
		r := 1 / math.Sqrt(float64(lim))
		for j := 0; j < d+nc; j++ {
			x := w.At(k, j)
			if mk.At(k, j) == 1 && (x == 0 || math.Abs(x) > r) {
				t.Errorf("unit %d (degree %d): weight %d is %v, want a non-zero draw from U(−%.4g, %.4g)", k, v, j, x, r, r)
			}
		}
	}
	if !mat.Equal(m.Weights(2), mat.NewDense(2*d, 5, nil)) {
		t.Error("the output layer is not zero")
	}
}

// arFlowC is arFlow with a context of dimension nc in every layer.
func arFlowC(t *testing.T, iaf bool, d, nc int, hidden []int, act Activation, clamp, scale float64, seed uint64) *Flow {
	t.Helper()
	return arFlowOf(t, iaf, AutoregressiveConfig{Dim: d, ContextDim: nc, Hidden: hidden, Activation: act, Clamp: clamp, Seed: seed}, scale)
}

var arContextVariants = []struct {
	hidden []int
	act    Activation
	clamp  float64
}{
	{nil, Tanh, 1.5},
	{[]int{6}, ReLU, 0},
	{[]int{6}, Tanh, 1.5},
	{[]int{7, 5}, ReLU, 1.5},
	{[]int{7, 5}, Tanh, 0},
}

// nllC returns the summed negative log-likelihood of the n rows of x with
// their contexts and, when grad is not nil, adds its gradient into grad and
// returns ∂/∂c and ∂/∂x.
func nllC(f *Flow, x, ctx []float64, n int, grad []float64) (loss float64, dc, dx []float64) {
	ws := f.newWorkspace(n)
	f.inversePass(ws, x, ctx, n)
	if grad == nil {
		out := make([]float64, n)
		stdNormalRows(out, ws.bufs[0][:n*f.d], ws.logdet[:n], f.d)
		for _, v := range out {
			loss -= v
		}
		return loss, nil, nil
	}
	dc = make([]float64, n*f.c)
	loss = f.nllBackward(ws, n, grad, dc)
	return loss, dc, append([]float64(nil), ws.dx[:n*f.d]...)
}

// klC returns the summed reverse-KL loss of the base draws z with their
// contexts and, when grad is not nil, adds its gradient into grad and
// returns ∂/∂c.
func klC(f *Flow, z, ctx []float64, n int, target Target, grad []float64) (loss float64, dc []float64) {
	ws := f.newWorkspace(n)
	f.drawPass(ws, z, ctx, n)
	if grad == nil {
		g := make([]float64, f.d)
		for i := 0; i < n; i++ {
			x := ws.bufs[len(f.layers)][i*f.d : (i+1)*f.d]
			loss += StdNormalLogProb(z[i*f.d:(i+1)*f.d]) - ws.logdet[i] - target(g, x)
		}
		return loss, nil
	}
	dc = make([]float64, n*f.c)
	return f.klBackward(ws, n, target, grad, dc), dc
}

// fdGrad returns the central finite-difference gradient of loss over v,
// restoring v.
func fdGrad(v []float64, loss func() float64) []float64 {
	v0 := append([]float64(nil), v...)
	g := fd.Gradient(nil, func(q []float64) float64 { copy(v, q); return loss() }, v0, &fd.Settings{Formula: fd.Central, Step: 1e-5})
	copy(v, v0)
	return g
}

// checkFlowGradsC runs the finite-difference checks of the maximum
// likelihood (through Inverse: parameters, context, data) and of the reverse
// KL (through Forward: parameters, context) on f with a context.
func checkFlowGradsC(t *testing.T, name string, f *Flow, ml, kl bool) {
	t.Helper()
	const n = 5
	x := randomRows(n, f.Dim(), 11)
	ctx := randomRows(n, f.ContextDim(), 12)
	if ml {
		g := make([]float64, f.NumParams())
		_, dc, dx := nllC(f, x, ctx, n, g)
		loss := func() float64 { l, _, _ := nllC(f, x, ctx, n, nil); return l }
		checkGrad(t, name+"/ml", f, loss, g)
		checkVec(t, name+"/ml/context", dc, fdGrad(ctx, loss))
		checkVec(t, name+"/ml/x", dx, fdGrad(x, loss))
	}
	if kl {
		g := make([]float64, f.NumParams())
		_, dc := klC(f, x, ctx, n, banana, g)
		loss := func() float64 { l, _ := klC(f, x, ctx, n, banana, nil); return l }
		checkGrad(t, name+"/kl", f, loss, g)
		checkVec(t, name+"/kl/context", dc, fdGrad(ctx, loss))
	}
}

// TestMAFContextGradients: every parameter's gradient of the maximum
// likelihood with a context, through Inverse, and the gradients with
// respect to the context and the data; and, for an inverted MAF, of the
// reverse KL through Forward.
func TestMAFContextGradients(t *testing.T) {
	for _, d := range []int{1, 2, 4} {
		for _, nc := range []int{1, 3} {
			for _, v := range arContextVariants {
				if len(v.hidden) > 0 && v.hidden[len(v.hidden)-1] < d {
					continue
				}
				name := fmt.Sprintf("D=%d/C=%d/%v/%v/clamp=%v", d, nc, v.hidden, v.act, v.clamp)
				f := arFlowC(t, false, d, nc, v.hidden, v.act, v.clamp, 0.4, 3)
				checkFlowGradsC(t, "maf/"+name, f, true, false)
				inv, err := New(Invert(f.layers[2]), Invert(f.layers[1]), Invert(f.layers[0]))
				if err != nil {
					t.Fatal(err)
				}
				checkFlowGradsC(t, "inverted-maf/"+name, inv, false, true)
			}
		}
	}
}

// TestIAFContextGradients: every parameter's gradient of the reverse KL with
// a context, through Forward, and the gradient with respect to the
// context; and, for an inverted IAF, of the maximum likelihood through
// Inverse (parameters, context, data).
func TestIAFContextGradients(t *testing.T) {
	for _, d := range []int{1, 2, 4} {
		for _, nc := range []int{1, 3} {
			for _, v := range arContextVariants {
				name := fmt.Sprintf("D=%d/C=%d/%v/%v/clamp=%v", d, nc, v.hidden, v.act, v.clamp)
				f := arFlowC(t, true, d, nc, v.hidden, v.act, v.clamp, 0.4, 4)
				checkFlowGradsC(t, "iaf/"+name, f, false, true)
				inv, err := New(Invert(f.layers[2]), Invert(f.layers[1]), Invert(f.layers[0]))
				if err != nil {
					t.Fatal(err)
				}
				checkFlowGradsC(t, "inverted-iaf/"+name, inv, true, false)
			}
		}
	}
}

// TestAutoregressiveContextLayerBackward checks the one-pass backward of a
// single layer (MAF.InverseBackward, IAF.ForwardBackward) against finite
// differences of L = Σ g ⊙ out + Σ dld ⊙ logdet with respect to the
// parameters, the input and the context, and that it adds into grad and dc
// rather than overwriting them.
func TestAutoregressiveContextLayerBackward(t *testing.T) {
	for _, iaf := range []bool{false, true} {
		for _, d := range []int{1, 3, 5} {
			for _, hidden := range [][]int{nil, {d + 2, d}} {
				const n, nc = 4, 2
				name := fmt.Sprintf("iaf=%v/D=%d/%v", iaf, d, hidden)
				cfg := AutoregressiveConfig{Dim: d, Hidden: hidden, Activation: Tanh, Order: RandomOrder, Degrees: RandomDegrees, Clamp: 1.5, Seed: 3, ContextDim: nc}
				var l Layer
				var a *arLayer
				if iaf {
					m, err := NewIAF(cfg)
					if err != nil {
						t.Fatal(err)
					}
					l, a = m, &m.arLayer
				} else {
					m, err := NewMAF(cfg)
					if err != nil {
						t.Fatal(err)
					}
					l, a = m, &m.arLayer
				}
				randomizeMADE(a.made, 0.5, 7)
				in, ctx := randomRows(n, d, 1), randomRows(n, nc, 2)
				g, dld := randomRows(n, d, 3), randomRows(n, 1, 4)
				work := make([]float64, l.WorkLen(n))
				pass := func(out, ld []float64) {
					if iaf {
						l.Forward(out, in, ctx, ld, work)
					} else {
						l.Inverse(out, in, ctx, ld, work)
					}
				}
				loss := func() float64 {
					out, ld := make([]float64, n*d), make([]float64, n)
					pass(out, ld)
					s := 0.0
					for i, v := range out {
						s += g[i] * v
					}
					for i, v := range ld {
						s += dld[i] * v
					}
					return s
				}
				out, ld := make([]float64, n*d), make([]float64, n)
				pass(out, ld)
				din := make([]float64, n*d)
				grad := make([]float64, l.NumParams())
				dc := make([]float64, n*nc)
				for i := range grad {
					grad[i] = 0.25
				}
				for i := range dc {
					dc[i] = -0.5
				}
				if iaf {
					l.(*IAF).ForwardBackward(din, dc, g, dld, in, out, ctx, work, grad)
				} else {
					l.(*MAF).InverseBackward(din, dc, g, dld, in, out, ctx, work, grad)
				}
				for i := range grad {
					grad[i] -= 0.25
				}
				for i := range dc {
					dc[i] += 0.5
				}
				checkVec(t, name+"/params", grad, fdGrad(a.made.params, loss))
				checkVec(t, name+"/input", din, fdGrad(in, loss))
				checkVec(t, name+"/context", dc, fdGrad(ctx, loss))
			}
		}
	}
}

// TestAutoregressiveNoContextDC: a layer without a context adds nothing into
// a dc it is given.
func TestAutoregressiveNoContextDC(t *testing.T) {
	const n, d = 3, 4
	for _, iaf := range []bool{false, true} {
		f := arFlow(t, iaf, d, []int{5}, Tanh, 0, 0.4, 1)
		l := f.layers[0]
		in, g, dld := randomRows(n, d, 1), randomRows(n, d, 2), randomRows(n, 1, 3)
		out, ld := make([]float64, n*d), make([]float64, n)
		work := make([]float64, l.WorkLen(n))
		dc := []float64{1, 2, 3, 4, 5, 6}
		din, grad := make([]float64, n*d), make([]float64, l.NumParams())
		if iaf {
			l.Forward(out, in, dc, ld, work) // any c is ignored
			l.(*IAF).ForwardBackward(din, dc, g, dld, in, out, dc, work, grad)
		} else {
			l.Inverse(out, in, dc, ld, work)
			l.(*MAF).InverseBackward(din, dc, g, dld, in, out, dc, work, grad)
		}
		if fmt.Sprint(dc) != "[1 2 3 4 5 6]" {
			t.Errorf("iaf=%v: a layer without a context changed dc to %v", iaf, dc)
		}
	}
}

// TestAutoregressiveContextLogDet compares both directions' log-determinants
// with the LU log-determinant of the numerical Jacobian with respect to x,
// the context held fixed; and checks that every output dimension of both
// directions depends on the context.
func TestAutoregressiveContextLogDet(t *testing.T) {
	for _, iaf := range []bool{false, true} {
		for _, d := range []int{1, 2, 3, 6} {
			for _, v := range arContextVariants {
				if len(v.hidden) > 0 && v.hidden[len(v.hidden)-1] < d {
					continue
				}
				const nc = 2
				f := arFlowC(t, iaf, d, nc, v.hidden, v.act, v.clamp, 0.4, 6)
				for i, l := range f.Layers() {
					name := fmt.Sprintf("iaf=%v/D=%d/%v/%v/clamp=%v/layer %d", iaf, d, v.hidden, v.act, v.clamp, i)
					rows, ctx := randomRows(3, d, 10), randomRows(3, nc, 11)
					work := make([]float64, l.WorkLen(1))
					for dir := 0; dir < 2; dir++ {
						apply := func(dst, src, c, ld []float64) {
							if dir == 0 {
								l.Forward(dst, src, c, ld, work)
							} else {
								l.Inverse(dst, src, c, ld, work)
							}
						}
						for r := 0; r < 3; r++ {
							at, c := rows[r*d:(r+1)*d], ctx[r*nc:(r+1)*nc]
							ld := []float64{0}
							apply(make([]float64, d), at, c, ld)
							want := numLogDet(d, func(dst, src []float64) { apply(dst, src, c, []float64{0}) }, at)
							if math.Abs(ld[0]-want) > 1e-7*math.Max(1, math.Abs(want)) {
								t.Errorf("%s: direction %d row %d: log|det| %.12g, numerical %.12g", name, dir, r, ld[0], want)
							}
							if v.act != Tanh {
								continue
							}
							jc := mat.NewDense(d, nc, nil)
							fd.Jacobian(jc, func(y, c []float64) { apply(y, at, c, []float64{0}) }, c, nil)
							for o := 0; o < d; o++ {
								if mat.Norm(jc.RowView(o), 2) == 0 {
									t.Errorf("%s: direction %d: output %d does not depend on the context", name, dir, o)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestAutoregressiveContextRoundTrip: with a context, the sequential
// direction inverts the one-pass one, Inverse(Forward(z | c) | c) = z to
// 1e-12 with log-dets that cancel, for MAF and IAF flows, D = 1, …, 6, with
// and without hidden layers; and the context changes the map.
func TestAutoregressiveContextRoundTrip(t *testing.T) {
	const n, nc = 50, 3
	for _, iaf := range []bool{false, true} {
		for d := 1; d <= 6; d++ {
			for _, hidden := range [][]int{nil, {16, 16}} {
				for _, act := range []Activation{ReLU, Tanh} {
					name := fmt.Sprintf("iaf=%v/D=%d/%v/%v", iaf, d, hidden, act)
					f := arFlowC(t, iaf, d, nc, hidden, act, 2, 0.15, uint64(d))
					z, ctx := randomRows(n, d, 77), randomRows(n, nc, 78)
					ws := f.newWorkspace(n)
					f.forwardPass(ws, z, ctx, n)
					x := append([]float64(nil), ws.bufs[len(f.layers)][:n*d]...)
					ldf := append([]float64(nil), ws.logdet[:n]...)
					f.inversePass(ws, x, ctx, n)
					if e := maxAbsDiff(ws.bufs[0][:n*d], z); !(e <= 1e-12) {
						t.Errorf("%s: Inverse(Forward(z | c) | c) differs from z by %g", name, e)
					}
					for i := range ldf {
						if e := ldf[i] + ws.logdet[i]; !(math.Abs(e) <= 1e-12*math.Max(1, math.Abs(ldf[i]))) {
							t.Errorf("%s: row %d: forward log-det %g, inverse %g", name, i, ldf[i], ws.logdet[i])
						}
					}
					if maxAbsDiff(x, z) == 0 {
						t.Errorf("%s: Forward is the identity: the round trip checks nothing", name)
					}
					// Another context gives other samples.
					ctx2 := randomRows(n, nc, 79)
					f.forwardPass(ws, z, ctx2, n)
					if maxAbsDiff(ws.bufs[len(f.layers)][:n*d], x) == 0 {
						t.Errorf("%s: the context does not change Forward", name)
					}
				}
			}
		}
	}
}

// TestSequentialIncrementalContext: with a context, the sequential direction
// (each hidden unit computed once, the context's share included) gives bit
// for bit what D full MADE passes give, from a workspace full of NaN.
func TestSequentialIncrementalContext(t *testing.T) {
	for _, d := range []int{1, 2, 5, 9} {
		for _, hidden := range [][]int{nil, {d}, {2 * d, d + 3}, {d + 1, 3 * d, d}} {
			for _, deg := range []DegreeKind{SequentialDegrees, RandomDegrees} {
				for _, fwd := range []bool{true, false} {
					const n, nc = 7, 3
					name := fmt.Sprintf("D=%d/%v/%v/fwd=%v", d, hidden, deg, fwd)
					m, err := newARMADE("test", AutoregressiveConfig{Dim: d, Hidden: hidden, Activation: ReLU, Order: RandomOrder, Degrees: deg, Clamp: 2, Seed: 5, ContextDim: nc})
					if err != nil {
						t.Fatal(err)
					}
					a := &arLayer{made: m, clamp: 2}
					randomizeMADE(m, 0.3, 6)
					checkIncremental(t, name, a, n, d, nc, fwd)
				}
			}
		}
	}
}

// TestAutoregressiveContextPasses: with a context, the one-pass direction
// takes one MADE pass over a batch and the sequential one D, as without.
func TestAutoregressiveContextPasses(t *testing.T) {
	const n, d, nc = 40, 5, 3
	for _, iaf := range []bool{false, true} {
		f := arFlowC(t, iaf, d, nc, []int{8}, ReLU, 0, 0.3, 1)
		x, ctx := randomRows(n, d, 1), randomRows(n, nc, 2)
		for i, l := range f.layers {
			var a *arLayer
			if iaf {
				a = &l.(*IAF).arLayer
			} else {
				a = &l.(*MAF).arLayer
			}
			work := make([]float64, l.WorkLen(n))
			out, ld := make([]float64, n*d), make([]float64, n)
			p0 := a.madePasses()
			l.Inverse(out, x, ctx, ld, work)
			p1 := a.madePasses()
			l.Forward(out, x, ctx, ld, work)
			p2 := a.madePasses()
			inv, fwd := int64(1), int64(d) // MAF
			if iaf {
				inv, fwd = d, 1
			}
			if p1-p0 != inv || p2-p1 != fwd {
				t.Errorf("iaf=%v layer %d: Inverse took %d MADE passes, want %d; Forward %d, want %d", iaf, i, p1-p0, inv, p2-p1, fwd)
			}
		}
	}
}

// TestAutoregressiveContextAllocs: with a context, steady-state training
// (both objectives, through the context-carrying gradient evaluation),
// log-densities and sampling of MAF and IAF flows allocate nothing.
func TestAutoregressiveContextAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	const n, d, nc = 150, 5, 4
	cfg := AutoregressiveFlowConfig{Dim: d, Layers: 2, Hidden: []int{8, 8}, Activation: ReLU, Clamp: 2, ContextDim: nc}
	mf, err := NewMAFFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nf, err := NewIAFFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Flow{mf, nf} {
		randomizeParams(f, 0.1, 1)
	}
	x := mat.NewDense(n, d, randomRows(n, d, 1))
	ctx := randomRows(n, nc, 2)
	lp := make([]float64, n)
	grad := make([]float64, mf.NumParams())
	cm := mat.NewDense(n, nc, ctx)
	rnd := rand.New(rand.NewPCG(1, 2))
	ml := NewMaxLikelihood(mf, 2, 64)
	kl := NewReverseKLGiven(nf, func(g, x, _ []float64) float64 { return banana(g, x) }, 2, 64)
	for name, fn := range map[string]func(){
		"MAF/MaxLikelihood": func() { ml.LossGradGiven(grad, x, cm) },
		"IAF/ReverseKL":     func() { kl.LossGradGiven(grad, x, cm) },
		"MAF/LogProb":       func() { mf.LogProbGiven(lp, x, cm) },
		"MAF/Sample":        func() { mf.SampleGiven(x, lp, cm, rnd) },
		"IAF/LogProb":       func() { nf.LogProbGiven(lp, x, cm) },
		"IAF/Sample":        func() { nf.SampleGiven(x, lp, cm, rnd) },
	} {
		fn()
		if a := testing.AllocsPerRun(20, fn); a > 0 {
			t.Errorf("%s: %v allocations per call in steady state", name, a)
		}
	}
}

// TestAutoregressiveContextDeterminism: gradients with a context are
// bit-identical for any number of workers.
func TestAutoregressiveContextDeterminism(t *testing.T) {
	const n, d, nc = 101, 3, 2
	x := mat.NewDense(n, d, randomRows(n, d, 1))
	c := mat.NewDense(n, nc, randomRows(n, nc, 2))
	for _, iaf := range []bool{false, true} {
		f := arFlowC(t, iaf, d, nc, []int{16, 16}, Tanh, 3, 0.2, 3)
		var want []float64
		for _, w := range []int{1, 2, 3, 8} {
			grad := make([]float64, f.NumParams())
			if iaf {
				kl := NewReverseKLGiven(f, func(g, x, _ []float64) float64 { return banana(g, x) }, w, 16)
				kl.LossGradGiven(grad, x, c)
			} else {
				ml := NewMaxLikelihood(f, w, 16)
				ml.LossGradGiven(grad, x, c)
			}
			if want == nil {
				want = grad
				continue
			}
			for i := range want {
				if math.Float64bits(grad[i]) != math.Float64bits(want[i]) {
					t.Errorf("iaf=%v: %d workers: gradient %d is %v, with 1 worker %v", iaf, w, i, grad[i], want[i])
					break
				}
			}
		}
	}
}

// TestAutoregressiveContextStartsAsIdentity: a new conditional layer is the
// identity in both directions, whatever the context.
func TestAutoregressiveContextStartsAsIdentity(t *testing.T) {
	for _, iaf := range []bool{false, true} {
		build := NewMAFFlow
		if iaf {
			build = NewIAFFlow
		}
		f, err := build(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{4}, Activation: Tanh, ContextDim: 2, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		z, ctx := []float64{1, 2, 3, -4, 5, -6}, []float64{7, -8, 0.5, 9}
		ws := f.newWorkspace(2)
		f.forwardPass(ws, z, ctx, 2)
		fx := append([]float64(nil), ws.bufs[2][:6]...)
		f.inversePass(ws, z, ctx, 2)
		if maxAbsDiff(fx, z) != 0 || maxAbsDiff(ws.bufs[0][:6], z) != 0 || ws.logdet[0] != 0 || ws.logdet[1] != 0 {
			t.Errorf("iaf=%v: a new conditional flow is not the identity: Forward %v, Inverse %v", iaf, fx, ws.bufs[0][:6])
		}
	}
}

// TestAutoregressiveContextBadConfig: contexts of negative or too large a
// dimension, hidden layers narrower than D with a context, explicit degrees
// outside [0, D−1], and context buffers of the wrong length.
func TestAutoregressiveContextBadConfig(t *testing.T) {
	cases := []struct {
		cfg  AutoregressiveConfig
		want string
	}{
		{AutoregressiveConfig{Dim: 3, Hidden: []int{4}, ContextDim: -1}, "context dimension -1 < 0"},
		{AutoregressiveConfig{Dim: 3, Hidden: []int{4}, ContextDim: maxDim + 1}, "context dimension 16777217 is more than the limit"},
		{AutoregressiveConfig{Dim: 4, Hidden: []int{5, 3}, ContextDim: 2}, "hidden layer 1 has 3 units, fewer than D = 4: with a context"},
		{AutoregressiveConfig{Dim: 1, Hidden: []int{0}, ContextDim: 2}, "hidden layer 0 has width 0"},
		{AutoregressiveConfig{Dim: 3, Hidden: []int{3}, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{0, 1, 3}}, ContextDim: 1}, "unit 2 has degree 3, outside [0, 2]"},
		{AutoregressiveConfig{Dim: 3, Hidden: []int{3}, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{0, 1, 2}}}, "unit 0 has degree 0, outside [1, 2]"},
		{AutoregressiveConfig{Dim: 2, Hidden: []int{1 << 14, 1 << 14}, ContextDim: 1 << 14}, "parameters"},
	}
	for _, c := range cases {
		for _, build := range []struct {
			name string
			fn   func(AutoregressiveConfig) error
		}{
			{"NewMAF", func(c AutoregressiveConfig) error { _, err := NewMAF(c); return err }},
			{"NewIAF", func(c AutoregressiveConfig) error { _, err := NewIAF(c); return err }},
			{"NewMADE", func(c AutoregressiveConfig) error { _, err := NewMADE(c.made()); return err }},
		} {
			err := build.fn(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), build.name) {
				t.Errorf("%s(%+v): error %v, want one containing %q", build.name, c.cfg, err, c.want)
			}
		}
	}
	for _, build := range []func(AutoregressiveFlowConfig) (*Flow, error){NewMAFFlow, NewIAFFlow} {
		_, err := build(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{2}, ContextDim: 1})
		if err == nil || !strings.Contains(err.Error(), "layer 0: hidden layer 0 has 2 units, fewer than D = 3") {
			t.Errorf("a flow with a context and a hidden width below D: error %v", err)
		}
		_, err = build(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{4}, ContextDim: -2})
		if err == nil || !strings.Contains(err.Error(), "context dimension -2 < 0") {
			t.Errorf("a flow with a negative context dimension: error %v", err)
		}
	}
	// Width D with a context, and D = 1 with any positive width, are enough.
	if _, err := NewMAF(AutoregressiveConfig{Dim: 4, Hidden: []int{4, 4}, ContextDim: 2}); err != nil {
		t.Errorf("hidden width D with a context: %v", err)
	}
	if _, err := NewIAF(AutoregressiveConfig{Dim: 1, Hidden: []int{1}, ContextDim: 2}); err != nil {
		t.Errorf("D = 1 with a context: %v", err)
	}
	// Contexts of the wrong length panic, naming the method.
	m, _ := NewMAF(AutoregressiveConfig{Dim: 3, Hidden: []int{4}, ContextDim: 2})
	v, _ := NewIAF(AutoregressiveConfig{Dim: 3, Hidden: []int{4}, ContextDim: 2})
	for _, c := range []struct {
		name string
		fn   func(dst, src, c, ld, work []float64)
	}{{"MAF.Forward", m.Forward}, {"MAF.Inverse", m.Inverse}, {"IAF.Forward", v.Forward}, {"IAF.Inverse", v.Inverse}} {
		for _, ctx := range [][]float64{nil, make([]float64, 3)} {
			msg := catchPanic(func() {
				c.fn(make([]float64, 6), make([]float64, 6), ctx, make([]float64, 2), make([]float64, m.WorkLen(2)))
			})
			if !strings.Contains(msg, c.name) || !strings.Contains(msg, "context of length") || !strings.Contains(msg, "2 rows × 2 columns = 4") {
				t.Errorf("%s with a context of length %d: panic %q", c.name, len(ctx), msg)
			}
		}
	}
}

// TestMADEContextSize: the footprint computed before building a layer is
// the layer's, with a context.
func TestMADEContextSize(t *testing.T) {
	for _, hidden := range [][]int{nil, {4, 6}} {
		for _, nc := range []int{0, 3} {
			m, err := NewMAF(AutoregressiveConfig{Dim: 4, Hidden: hidden, ContextDim: nc})
			if err != nil {
				t.Fatal(err)
			}
			s := madeContextSize(4, nc, hidden, true)
			if s.params != float64(m.NumParams()) || s.work != float64(m.WorkLen(evalShard)) {
				t.Errorf("MAF with hidden %v, C = %d: computed footprint %+v, the layer has %d parameters and a workspace of %d", hidden, nc, s, m.NumParams(), m.WorkLen(evalShard))
			}
			s = madeContextSize(4, nc, hidden, false)
			if s.params != float64(m.made.NumParams()) || s.work != float64(m.made.workLen(evalShard)) {
				t.Errorf("MADE with hidden %v, C = %d: computed footprint %+v, the MADE has %d parameters and a workspace of %d", hidden, nc, s, m.made.NumParams(), m.made.workLen(evalShard))
			}
		}
	}
}

// noContextFingerprint hashes, for MADEs without a context of several
// dimensions, widths, orders and degree kinds, the initial parameters, the
// hidden degrees and every mask: what the constructor makes, on every
// kernel path the same.
func noContextFingerprint(t *testing.T) uint64 {
	h := fnv.New64a()
	put := func(v float64) {
		u := math.Float64bits(v)
		var b [8]byte
		for i := range b {
			b[i] = byte(u >> (8 * i))
		}
		h.Write(b[:])
	}
	for _, d := range []int{1, 2, 5, 9} {
		for _, hidden := range [][]int{nil, {max(d-1, 1)}, {2 * d, d + 3}} {
			for _, deg := range []DegreeKind{SequentialDegrees, RandomDegrees} {
				for oi, oc := range madeOrders(d) {
					cfg := oc
					cfg.Dim, cfg.Hidden, cfg.Degrees, cfg.Seed = d, hidden, deg, 7+uint64(oi)
					m, err := NewMADE(cfg)
					if err != nil {
						t.Fatal(err)
					}
					for _, v := range m.Params() {
						put(v)
					}
					for l := range m.Hidden() {
						for _, v := range m.HiddenDegrees(l) {
							put(float64(v))
						}
					}
					for l := 0; l < m.NumLayers(); l++ {
						for _, v := range m.Mask(l).RawMatrix().Data {
							put(v)
						}
					}
				}
			}
		}
	}
	return h.Sum64()
}

// TestMADENoContextUnchanged: without a context, a MADE is built exactly as
// before contexts existed (the fingerprint was taken from that code), and a
// MAF or IAF layer computes exactly what the pre-context arithmetic
// computes (transcribed below as refOnePass and refSequential).
func TestMADENoContextUnchanged(t *testing.T) {
	const want = 0x2b4a0f75fb88e17e
	if got := noContextFingerprint(t); got != want {
		t.Errorf("MADEs without a context: fingerprint %#x, want %#x", got, want)
	}
	for _, d := range []int{1, 2, 5, 9} {
		for _, hidden := range [][]int{nil, {max(d-1, 1)}, {2 * d, d + 3}} {
			for _, fwd := range []bool{false, true} {
				const n = 9
				name := fmt.Sprintf("D=%d/%v/fwd=%v", d, hidden, fwd)
				m, err := newARMADE("test", AutoregressiveConfig{Dim: d, Hidden: hidden, Activation: Tanh, Order: RandomOrder, Degrees: RandomDegrees, Clamp: 1.5, Seed: 2})
				if err != nil {
					t.Fatal(err)
				}
				randomizeMADE(m, 0.4, 3)
				a := &arLayer{made: m, clamp: 1.5}
				in := randomRows(n, d, 4)
				got, want := make([]float64, n*d), make([]float64, n*d)
				ldGot, ldWant := make([]float64, n), make([]float64, n)
				a.onePass(got, in, nil, ldGot, make([]float64, a.WorkLen(n)), fwd, dropout{})
				refOnePass(a, want, in, ldWant, fwd)
				same := func(what string, x, y []float64) {
					for i := range x {
						if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
							t.Fatalf("%s: %s entry %d: %v, before contexts %v", name, what, i, x[i], y[i])
						}
					}
				}
				same("one pass", got, want)
				same("one-pass log-det", ldGot, ldWant)
				clear(ldGot)
				clear(ldWant)
				a.sequential(got, in, nil, ldGot, make([]float64, a.WorkLen(n)), fwd)
				refSequential(a, want, in, ldWant, fwd)
				same("sequential", got, want)
				same("sequential log-det", ldGot, ldWant)
			}
		}
	}
}

// refOnePass is arLayer.onePass as it was before contexts: the MADE's input
// is the input gathered into the order.
func refOnePass(a *arLayer, out, in, logdet []float64, fwd bool) {
	n, d, m := len(logdet), a.made.d, a.made
	xin, xout, e := make([]float64, n*d), make([]float64, n*d), make([]float64, n*d)
	row := make([]float64, d)
	gatherRows(xin, in, m.order)
	o := m.forward(xin, n, make([]float64, m.workLen(n)))
	for r := 0; r < n; r++ {
		or := o[r*2*d : (r+1)*2*d]
		mu, alpha := or[:d], a.scale(or[d:], row)
		if fwd {
			logdet[r] += affineForward(xout[r*d:(r+1)*d], e[r*d:(r+1)*d], xin[r*d:(r+1)*d], mu, alpha)
		} else {
			logdet[r] -= affineInverse(xout[r*d:(r+1)*d], e[r*d:(r+1)*d], xin[r*d:(r+1)*d], mu, alpha)
		}
	}
	gatherRows(out, xout, m.pos)
}

// refSequential is arLayer.sequential as it was before contexts.
func refSequential(a *arLayer, out, in, logdet []float64, fwd bool) {
	n, d, m := len(logdet), a.made.d, a.made
	xin, xout := make([]float64, n*d), make([]float64, n*d)
	work := make([]float64, m.workLen(n))
	mu, araw := make([]float64, n), make([]float64, n)
	gatherRows(xin, in, m.order)
	for p := 0; p < d; p++ {
		m.positionPass(xout, p, n, work, mu, araw)
		for r := range logdet {
			al := a.scale1(araw[r])
			if fwd {
				xout[r*d+p] = xin[r*d+p]*math.Exp(al) + mu[r]
				logdet[r] += al
			} else {
				xout[r*d+p] = (xin[r*d+p] - mu[r]) * math.Exp(-al)
				logdet[r] -= al
			}
		}
	}
	gatherRows(out, xout, m.pos)
}
