// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"
)

// madeOrders returns a configuration of each order kind for d dimensions.
func madeOrders(d int) []MADEConfig {
	perm := make([]int, d)
	for i := range perm {
		perm[i] = (3*i + 1) % d // a permutation when gcd(3, d) = 1
	}
	if d%3 == 0 {
		perm = rand.New(rand.NewPCG(uint64(d), 3)).Perm(d)
	}
	return []MADEConfig{
		{Order: NaturalOrder},
		{Order: ReversedOrder},
		{Order: RandomOrder, Seed: 17},
		{Order: ExplicitOrder, Perm: perm},
	}
}

// randomizeMADE sets every parameter of m, masked weights included, to a
// draw from N(0, scale²): masked weights that are never read cannot change
// the function.
func randomizeMADE(m *MADE, scale float64, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 5))
	for i := range m.params {
		m.params[i] = scale * rnd.NormFloat64()
	}
}

// madeEval evaluates m on the n rows of x, given in dimension order, and
// returns its output in the export layout: row r is
// [μ_0, …, μ_{D−1}, α_0, …, α_{D−1}].
func madeEval(m *MADE, x []float64, n int) []float64 { return madeEvalC(m, x, nil, n) }

// madeEvalC is madeEval with the rows' contexts c (n×C, nil when C = 0):
// the MADE's input is [c ; x in the order].
func madeEvalC(m *MADE, x, c []float64, n int) []float64 {
	d, nc := m.d, m.c
	s := d + nc
	xo := make([]float64, n*s)
	for r := 0; r < n; r++ {
		copy(xo[r*s:r*s+nc], c[r*nc:(r+1)*nc])
		for p, i := range m.order {
			xo[r*s+nc+p] = x[r*d+i]
		}
	}
	work := make([]float64, m.workLen(n))
	o := m.forward(xo, n, work)
	out := make([]float64, n*2*d)
	for r := 0; r < n; r++ {
		for i := 0; i < d; i++ {
			out[r*2*d+i] = o[r*2*d+m.pos[i]]
			out[r*2*d+d+i] = o[r*2*d+d+m.pos[i]]
		}
	}
	return out
}

func TestMADEAutoregressive(t *testing.T) {
	for _, d := range []int{1, 2, 3, 5, 7} {
		w := max(d-1, 1)
		for _, hidden := range [][]int{{w}, {w, w}, {d + 4, w, 2 * d}} {
			for _, oc := range madeOrders(d) {
				for _, deg := range []DegreeKind{SequentialDegrees, RandomDegrees} {
					for _, act := range []Activation{Tanh, ReLU} {
						cfg := oc
						cfg.Dim, cfg.Hidden, cfg.Degrees, cfg.Activation = d, hidden, deg, act
						cfg.Seed += 1000
						name := fmt.Sprintf("D=%d/%v/%v/%v/%v", d, hidden, cfg.Order, deg, act)
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

// TestMADEExplicitDegrees: explicit degrees that leave a degree out keep
// the forbidden dependences out and lose the connections that only the
// missing degree would make.
func TestMADEExplicitDegrees(t *testing.T) {
	m, err := NewMADE(MADEConfig{Dim: 4, Hidden: []int{4, 3}, Activation: Tanh, Order: ReversedOrder, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{1, 1, 3, 3}, {1, 3, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	randomizeMADE(m, 0.7, 2)
	checkAutoregressive(t, "explicit", m, false)
	// Degree 2 is missing: the outputs of degree 3 (dimension 1) see only
	// the input of degree 1 (dimension 3), not that of degree 2.
	x := randomRows(1, 4, 1)
	jac := mat.NewDense(8, 4, nil)
	fd.Jacobian(jac, func(y, x []float64) { copy(y, madeEval(m, x, 1)) }, x, nil)
	if jac.At(1, 2) != 0 || jac.At(1, 3) == 0 {
		t.Errorf("μ of dimension 1: ∂/∂x₂ = %v, want 0; ∂/∂x₃ = %v, want ≠ 0", jac.At(1, 2), jac.At(1, 3))
	}
}

// checkAutoregressive checks that the numerical Jacobian of m's outputs
// with respect to its inputs is zero exactly where the order forbids a
// dependence and, when dense is set, non-zero everywhere else. With a
// context, the Jacobian is taken with respect to [x ; c], and every output
// is allowed to depend on every context input (and must, when dense is set).
func checkAutoregressive(t *testing.T, name string, m *MADE, dense bool) {
	t.Helper()
	d, nc := m.d, m.c
	deg := m.InputDegrees()
	jac := mat.NewDense(2*d, d+nc, nil)
	for trial := 0; trial < 2; trial++ {
		xc := randomRows(1, d+nc, uint64(31+trial))
		fd.Jacobian(jac, func(y, xc []float64) { copy(y, madeEvalC(m, xc[:d], xc[d:], 1)) }, xc, &fd.JacobianSettings{Formula: fd.Central})
		for o := 0; o < 2*d; o++ {
			for j := 0; j < d; j++ {
				v := jac.At(o, j)
				allowed := deg[j] < deg[o%d]
				if !allowed && v != 0 {
					t.Errorf("%s: output %d (degree %d) depends on input %d (degree %d): ∂/∂x = %g", name, o, deg[o%d], j, deg[j], v)
				}
				if allowed && dense && v == 0 {
					t.Errorf("%s: output %d (degree %d) does not depend on input %d (degree %d)", name, o, deg[o%d], j, deg[j])
				}
			}
			for j := 0; j < nc; j++ {
				if v := jac.At(o, d+j); dense && v == 0 {
					t.Errorf("%s: output %d (degree %d) does not depend on context input %d", name, o, deg[o%d], j)
				}
			}
		}
	}
}

func TestMADEExportLayout(t *testing.T) {
	for _, d := range []int{1, 2, 4, 6} {
		for _, nc := range []int{0, 1, 3} {
			narrow := max(d-1, 1)
			if nc > 0 {
				narrow = d // with a context, degrees run 0, …, D−1
			}
			for _, hidden := range [][]int{nil, {narrow}, {d + 3, 2 * d}} {
				for _, oc := range madeOrders(d) {
					cfg := oc
					cfg.Dim, cfg.Hidden, cfg.Activation, cfg.Degrees, cfg.ContextDim = d, hidden, Tanh, RandomDegrees, nc
					name := fmt.Sprintf("D=%d/C=%d/%v/%v", d, nc, hidden, cfg.Order)
					m, err := NewMADE(cfg)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if m.ContextDim() != nc {
						t.Errorf("%s: ContextDim %d", name, m.ContextDim())
					}
					randomizeMADE(m, 0.5, 3)
					checkExportLayout(t, name, m, cfg)
				}
			}
		}
	}
}

// checkExportLayout checks the exported masks against the MADE mask
// formula on the exported degrees, that exported weights are zero where
// masked, that a plain dense network with the exported weights computes the
// MADE, and that SetLayer inverts Weights and Biases. With a context, the
// first layer's inputs are [x ; c] with the context inputs of degree 0.
func checkExportLayout(t *testing.T, name string, m *MADE, cfg MADEConfig) {
	t.Helper()
	d, nc, L := m.d, m.c, m.NumLayers()
	degs := [][]int{append(m.InputDegrees(), make([]int, nc)...)}
	for l := range m.Hidden() {
		degs = append(degs, m.HiddenDegrees(l))
	}
	lo, hi := 1, max(d-1, 1)
	if nc > 0 {
		lo, hi = 0, d-1
	}
	for _, dg := range degs[1:] {
		for k, v := range dg {
			if v < lo || v > hi || (k > 0 && v < dg[k-1]) {
				t.Errorf("%s: hidden degrees %v: not sorted in [%d, %d]", name, dg, lo, hi)
				break
			}
		}
		// Every degree is present.
		if nd := hi - lo + 1; len(dg) >= nd && (dg[0] != lo || dg[len(dg)-1] != hi) {
			t.Errorf("%s: hidden degrees %v do not span [%d, %d]", name, dg, lo, hi)
		}
	}
	if r, c := m.Mask(0).Dims(); r != m.sizes[1] || c != d+nc {
		t.Errorf("%s: the first layer's mask is %d×%d, want %d×%d", name, r, c, m.sizes[1], d+nc)
	}
	outDeg := append(m.InputDegrees(), m.InputDegrees()...)
	degs = append(degs, outDeg)
	for l := 0; l < L; l++ {
		mk, w := m.Mask(l), m.Weights(l)
		r, c := mk.Dims()
		for k := 0; k < r; k++ {
			for j := 0; j < c; j++ {
				want := degs[l+1][k] >= degs[l][j]
				if l == L-1 {
					want = degs[l+1][k] > degs[l][j]
				}
				if (mk.At(k, j) == 1) != want || (mk.At(k, j) != 0 && mk.At(k, j) != 1) {
					t.Fatalf("%s: layer %d: mask[%d,%d] = %v, degrees %d and %d", name, l, k, j, mk.At(k, j), degs[l+1][k], degs[l][j])
				}
				if mk.At(k, j) == 0 && w.At(k, j) != 0 {
					t.Fatalf("%s: layer %d: exported weight [%d,%d] is masked but %v", name, l, k, j, w.At(k, j))
				}
			}
		}
	}
	// A dense network with the exported weights, inputs [x ; c] with x in
	// dimension order.
	const n = 3
	x := randomRows(n, d, 8)
	c := randomRows(n, nc, 9)
	h := mat.NewDense(n, d+nc, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			h.Set(i, j, x[i*d+j])
		}
		for j := 0; j < nc; j++ {
			h.Set(i, d+j, c[i*nc+j])
		}
	}
	for l := 0; l < L; l++ {
		var a mat.Dense
		a.Mul(h, m.Weights(l).T())
		b := m.Biases(l)
		r, c := a.Dims()
		for i := 0; i < r; i++ {
			for k := 0; k < c; k++ {
				v := a.At(i, k) + b[k]
				if l < L-1 {
					v = math.Tanh(v)
				}
				a.Set(i, k, v)
			}
		}
		h = &a
	}
	got := madeEvalC(m, x, c, n)
	if e := maxAbsDiff(got, h.RawMatrix().Data); e > 1e-13 {
		t.Errorf("%s: a dense network with the exported weights differs from the MADE by %g", name, e)
	}
	// A MADE built from what a model file holds (order, degrees,
	// activation, and the layers through SetLayer) computes the same.
	var hd [][]int
	for l := range m.Hidden() {
		hd = append(hd, m.HiddenDegrees(l))
	}
	m2, err := NewMADE(MADEConfig{Dim: d, Hidden: m.Hidden(), Activation: m.Activation(), Order: ExplicitOrder, Perm: m.Order(), Degrees: ExplicitDegrees, HiddenDegrees: hd, Seed: cfg.Seed + 1, ContextDim: nc})
	if err != nil {
		t.Fatal(err)
	}
	for l := 0; l < L; l++ {
		if err := m2.SetLayer(l, m.Weights(l), m.Biases(l)); err != nil {
			t.Fatalf("%s: SetLayer: %v", name, err)
		}
		if !mat.Equal(m2.Weights(l), m.Weights(l)) {
			t.Errorf("%s: layer %d: SetLayer(Weights) does not give the weights back", name, l)
		}
	}
	if e := maxAbsDiff(madeEvalC(m2, x, c, n), got); e != 0 {
		t.Errorf("%s: a MADE set from the export differs by %g", name, e)
	}
	if nc > 0 {
		// A context weight is never masked: SetLayer takes it and the
		// output moves.
		w := m.Weights(0)
		w.Set(0, d, w.At(0, d)+0.25)
		if err := m2.SetLayer(0, w, m.Biases(0)); err != nil {
			t.Errorf("%s: SetLayer with a context weight changed: %v", name, err)
		}
		if maxAbsDiff(madeEvalC(m2, x, c, n), got) == 0 {
			t.Errorf("%s: a context weight set through SetLayer changes nothing", name)
		}
	}
	if l := L - 1; d > 1 {
		w := m.Weights(l)
		w.Set(0, 0, 1) // μ_0 on hidden unit 0: masked whenever deg ≥ deg(dim 0)
		if m.Mask(l).At(0, 0) == 0 {
			if err := m2.SetLayer(l, w, m.Biases(l)); err == nil || !strings.Contains(err.Error(), "masked") {
				t.Errorf("%s: SetLayer with a masked weight set: error %v", name, err)
			}
		}
	}
}

func TestMADEStaircase(t *testing.T) {
	// The staircases are non-decreasing: the condition for the masked
	// kernels to skip whole zero tiles.
	for _, oc := range madeOrders(9) {
		cfg := oc
		cfg.Dim, cfg.Hidden, cfg.Degrees = 9, []int{20, 8, 31}, RandomDegrees
		m, err := NewMADE(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for l, lim := range m.lims {
			for k := 1; k < len(lim); k++ {
				// The output layer's μ and α halves are each
				// non-decreasing.
				if k != len(lim)/2 || l != len(m.lims)-1 {
					if lim[k] < lim[k-1] {
						t.Errorf("%v: layer %d: staircase %v decreases", cfg.Order, l, lim)
						break
					}
				}
			}
		}
	}
}

// TestMADEGradients checks MADE.backward against finite differences of
// L = Σ c ⊙ MADE(x), for the parameters and the input.
func TestMADEGradients(t *testing.T) {
	for _, d := range []int{1, 3, 5} {
		for _, nc := range []int{0, 2} {
			for _, hidden := range [][]int{nil, {7}, {6, 5}} {
				for _, act := range []Activation{ReLU, Tanh} {
					name := fmt.Sprintf("D=%d/C=%d/%v/%v", d, nc, hidden, act)
					m, err := NewMADE(MADEConfig{Dim: d, Hidden: hidden, Activation: act, Order: RandomOrder, Degrees: RandomDegrees, Seed: 4, ContextDim: nc})
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					randomizeMADE(m, 0.6, 9)
					const n = 4
					// The MADE's input, [c ; x in the order].
					x := randomRows(n, d+nc, 12)
					c := randomRows(n, 2*d, 13)
					loss := func() float64 {
						work := make([]float64, m.workLen(n))
						o := m.forward(x, n, work)
						s := 0.0
						for i, v := range o {
							s += c[i] * v
						}
						return s
					}
					work := make([]float64, m.workLen(n))
					m.forward(x, n, work)
					grad := make([]float64, m.NumParams())
					dx := make([]float64, n*(d+nc))
					m.backward(x, n, work, c, grad, dx)
					p := m.params
					p0 := append([]float64(nil), p...)
					num := fd.Gradient(nil, func(q []float64) float64 { copy(p, q); return loss() }, p0, &fd.Settings{Formula: fd.Central, Step: 1e-5})
					copy(p, p0)
					checkVec(t, name+"/params", grad, num)
					if d == 1 && nc == 0 {
						continue // μ and α are biases alone
					}
					x0 := append([]float64(nil), x...)
					numX := fd.Gradient(nil, func(q []float64) float64 { copy(x, q); return loss() }, x0, &fd.Settings{Formula: fd.Central, Step: 1e-5})
					copy(x, x0)
					if act == ReLU && maxAbsDiff(numX, make([]float64, len(numX))) == 0 {
						// Every path from the input is dead at x.
						if e := maxAbsDiff(dx, numX); e != 0 {
							t.Errorf("%s: input gradient %v, finite difference zero", name, dx)
						}
					} else {
						checkVec(t, name+"/input", dx, numX)
					}
					// Masked weights have exactly zero gradients.
					for l := 1; l <= m.NumLayers(); l++ {
						dw, _ := m.layer(grad, l)
						in := m.sizes[l-1]
						for k, lk := range m.lims[l-1] {
							for j := lk; j < in; j++ {
								if dw[k*in+j] != 0 {
									t.Fatalf("%s: masked weight (%d, %d) of layer %d has gradient %g", name, k, j, l, dw[k*in+j])
								}
							}
						}
					}
				}
			}
		}
	}
}

// checkVec compares a hand-derived gradient with a finite-difference one,
// as checkGrad does.
func checkVec(t *testing.T, name string, got, num []float64) {
	t.Helper()
	inf := 0.0
	for _, v := range num {
		inf = math.Max(inf, math.Abs(v))
	}
	if inf == 0 {
		t.Fatalf("%s: the finite-difference gradient is zero: the test checks nothing", name)
	}
	for i := range num {
		e := math.Abs(got[i]-num[i]) / math.Max(math.Abs(num[i]), 1e-3*inf)
		if !(e <= fdTol) {
			t.Errorf("%s: component %d: analytic %.12g, finite difference %.12g: relative error %.3g", name, i, got[i], num[i], e)
			return
		}
	}
}

func TestMADEBadConfig(t *testing.T) {
	cases := []struct {
		cfg  MADEConfig
		want string
	}{
		{MADEConfig{Dim: 0}, "dimension 0 < 1"},
		{MADEConfig{Dim: -2}, "dimension -2 < 1"},
		{MADEConfig{Dim: 3, Hidden: []int{4, 0}}, "hidden layer 1 has width 0"},
		{MADEConfig{Dim: 5, Hidden: []int{8, 3}}, "hidden layer 1 has 3 units, fewer than D−1 = 4: it cannot connect every input"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Activation: Activation(9)}, "activation"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Degrees: DegreeKind(5)}, "degree"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Order: OrderKind(8)}, "unknown order"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Order: ExplicitOrder, Perm: []int{0, 1}}, "explicit order has 2 entries, want D = 3"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Order: ExplicitOrder}, "explicit order has 0 entries"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Order: ExplicitOrder, Perm: []int{1, 2, 3}}, "entry 2 is 3, outside [0, 3)"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Order: ExplicitOrder, Perm: []int{2, 0, 2}}, "dimension 2 appears twice"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Order: ExplicitOrder, Perm: []int{-1, 0, 1}}, "outside"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, Perm: []int{0, 1, 2}}, "Perm is set but the order is natural"},
		{MADEConfig{Dim: 3, Hidden: []int{2}, HiddenDegrees: [][]int{{1, 2}}}, "HiddenDegrees is set but the degrees are sequential"},
		{MADEConfig{Dim: 3, Hidden: []int{2}, Degrees: ExplicitDegrees}, "explicit degrees for 0 hidden layers, want 1"},
		{MADEConfig{Dim: 3, Hidden: []int{2}, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{1, 2, 2}}}, "hidden layer 0: 3 explicit degrees for 2 units"},
		{MADEConfig{Dim: 3, Hidden: []int{2, 3}, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{1, 2}, {1, 3, 2}}}, "hidden layer 1: unit 1 has degree 3, outside [1, 2]"},
		{MADEConfig{Dim: 3, Hidden: []int{2}, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{0, 2}}}, "unit 0 has degree 0, outside [1, 2]"},
		{MADEConfig{Dim: 4, Hidden: []int{3}, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{1, 3, 2}}}, "degrees are not sorted (unit 2 has 2 after 3)"},
	}
	for _, c := range cases {
		_, err := NewMADE(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewMADE(%+v): error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
	// Width exactly D−1 is enough; D = 1 takes any positive width.
	if _, err := NewMADE(MADEConfig{Dim: 5, Hidden: []int{4, 4}}); err != nil {
		t.Errorf("hidden width D−1: %v", err)
	}
	if _, err := NewMADE(MADEConfig{Dim: 1, Hidden: []int{1}}); err != nil {
		t.Errorf("D = 1: %v", err)
	}
}

// TestMaskedWeightsStayZero: masked weights start at zero, get exactly zero
// gradients and so stay zero through training, weight decay included.
func TestMaskedWeightsStayZero(t *testing.T) {
	f, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 4, Layers: 2, Hidden: []int{6, 5}, Activation: Tanh, RandomOrders: true, Degrees: RandomDegrees, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	x := mat.NewDense(200, 4, randomRows(200, 4, 1))
	if _, err := Fit(f, x, TrainConfig{Epochs: 3, BatchSize: 50, LearningRate: 1e-2, WeightDecay: 1e-3}); err != nil {
		t.Fatal(err)
	}
	moved := false
	for i, l := range f.Layers() {
		m := l.(*MAF).MADE()
		for k := 1; k <= m.NumLayers(); k++ {
			w, _ := m.layer(m.params, k)
			in := m.sizes[k-1]
			for r, lim := range m.lims[k-1] {
				for j := 0; j < in; j++ {
					if j >= lim && w[r*in+j] != 0 {
						t.Fatalf("layer %d: masked weight (%d, %d) of MADE layer %d is %v after training", i, r, j, k, w[r*in+j])
					}
					moved = moved || (j < lim && k == m.NumLayers() && w[r*in+j] != 0)
				}
			}
		}
	}
	if !moved {
		t.Error("training did not move the output layers")
	}
}
