// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// resCouplingFlow builds two coupling layers with residual conditioners of
// blocks blocks of width h, context dimension nc and alternating even/odd
// masks, with random parameters, so that both halves are transformed and
// every parameter and context column matters.
func resCouplingFlow(t *testing.T, d, nc, h, blocks int, act Activation, fn CouplingFunc, scale float64, seed uint64) *Flow {
	t.Helper()
	var layers []Layer
	for l := 0; l < 2; l++ {
		c, err := NewCoupling(CouplingConfig{Mask: EvenOddMask(d, l == 1), Hidden: []int{h}, Activation: act, Func: fn, Seed: seed + uint64(l), ContextDim: nc, ResidualBlocks: blocks})
		if err != nil {
			t.Fatal(err)
		}
		if c.ResidualBlocks() != blocks {
			t.Fatalf("ResidualBlocks() = %d, want %d", c.ResidualBlocks(), blocks)
		}
		layers = append(layers, c)
	}
	f, err := New(layers...)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, scale, seed)
	return f
}

// resFuncs are the coupling functions the residual tests run.
func resFuncs(t *testing.T) []struct {
	name string
	h    CouplingFunc
} {
	sp, err := NewRQSpline(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		h    CouplingFunc
	}{
		{"affine", Affine{}},
		{"affine-clamp", Affine{Clamp: 1.5}},
		{"additive", Additive{}},
		{"rqspline", sp},
	}
}

// resForwardRef evaluates a residual network row by row from its equations
// and the documented parameter layout, independently of resForward.
func resForwardRef(m *mlp, p, x []float64) []float64 {
	in, H, R, out := m.sizes[0], m.sizes[1], m.blocks, m.out()
	act := func(v float64) float64 {
		if m.act == Tanh {
			return math.Tanh(v)
		}
		return math.Max(v, 0)
	}
	off := 0
	dense := func(y, x []float64, in, out int) {
		w, b := p[off:off+out*in], p[off+out*in:off+out*in+out]
		off += out*in + out
		for k := range y {
			s := b[k]
			for j, v := range x {
				s += w[k*in+j] * v
			}
			y[k] = s
		}
	}
	h := make([]float64, H)
	dense(h, x, in, H)
	u, v, t := make([]float64, H), make([]float64, H), make([]float64, H)
	for j := 0; j < R; j++ {
		for i := range u {
			u[i] = act(h[i])
		}
		dense(v, u, H, H)
		for i := range v {
			v[i] = act(v[i])
		}
		dense(t, v, H, H)
		for i := range h {
			h[i] += t[i]
		}
	}
	for i := range u {
		u[i] = act(h[i])
	}
	y := make([]float64, out)
	dense(y, u, H, out)
	if off != len(p) {
		panic(fmt.Sprintf("resForwardRef read %d parameters of %d", off, len(p)))
	}
	return y
}

// TestResidualForwardRef checks the conditioner's output, over a batch,
// against the row-by-row evaluation of its equations.
func TestResidualForwardRef(t *testing.T) {
	const n = 7
	for _, act := range []Activation{ReLU, Tanh} {
		for _, R := range []int{1, 2, 3} {
			m := newResMLP(4, 6, 5, R, act)
			p := randomRows(1, m.numParams(), uint64(R))
			x := randomRows(n, 4, 5)
			work := make([]float64, m.workLen(n))
			got := m.forward(p, x, n, work)
			if e := maxAbsDiff(got, m.output(work, n)); e != 0 {
				t.Errorf("%v/R=%d: output differs from forward's result by %g", act, R, e)
			}
			for r := 0; r < n; r++ {
				want := resForwardRef(&m, p, x[r*4:r*4+4])
				// The sums run in another order than the kernels':
				// agreement to rounding, relative to the outputs' size.
				scale := 1.0
				for _, v := range want {
					scale = math.Max(scale, math.Abs(v))
				}
				if e := maxAbsDiff(got[r*5:r*5+5], want); e > 1e-13*scale {
					t.Errorf("%v/R=%d: row %d: output differs from the reference by %g", act, R, r, e)
				}
			}
			if want := 4*6 + 2*R*36 + 6*5; m.denseCost() != want {
				t.Errorf("%v/R=%d: denseCost %d, want %d", act, R, m.denseCost(), want)
			}
			if want := 4*6 + 6 + R*2*(36+6) + 6*5 + 5; m.numParams() != want {
				t.Errorf("%v/R=%d: numParams %d, want %d", act, R, m.numParams(), want)
			}
		}
	}
}

// TestResidualGradients checks, by finite differences, the gradients of
// maximum likelihood and reverse KL with respect to every parameter of two
// couplings with residual conditioners, without a context.
func TestResidualGradients(t *testing.T) {
	for _, cf := range resFuncs(t) {
		for _, R := range []int{1, 2} {
			for _, act := range []Activation{ReLU, Tanh} {
				name := fmt.Sprintf("%s/R=%d/%v", cf.name, R, act)
				f := resCouplingFlow(t, 5, 0, 6, R, act, cf.h, 0.4, 3)
				checkFlowGrads(t, name, f, true, true)
			}
		}
	}
}

// TestResidualContextGradients checks, by finite differences, the
// gradients of maximum likelihood with respect to every parameter, the
// contexts and x, and of reverse KL with respect to every parameter and the
// contexts, through two conditional couplings with residual conditioners.
func TestResidualContextGradients(t *testing.T) {
	const d, n = 5, 5
	for _, cf := range resFuncs(t) {
		for _, act := range []Activation{ReLU, Tanh} {
			for _, nc := range []int{1, 3} {
				name := fmt.Sprintf("%s/%v/C=%d", cf.name, act, nc)
				f := resCouplingFlow(t, d, nc, 6, 2, act, cf.h, 0.4, 3)
				x := randomRows(n, d, 11)
				ctx := randomRows(n, nc, 13)

				grad := make([]float64, f.NumParams())
				dc := make([]float64, n*nc)
				dx := make([]float64, n*d)
				couplingNLLGiven(f, x, ctx, n, grad, dc, dx)
				checkGrad(t, name+"/ml", f, func() float64 { return couplingNLLGiven(f, x, ctx, n, nil, nil, nil) }, grad)
				checkVecGrad(t, name+"/ml/∂c", ctx, func(v []float64) float64 { return couplingNLLGiven(f, x, v, n, nil, nil, nil) }, dc)
				checkVecGrad(t, name+"/ml/∂x", x, func(v []float64) float64 { return couplingNLLGiven(f, v, ctx, n, nil, nil, nil) }, dx)

				grad = make([]float64, f.NumParams())
				dc = make([]float64, n*nc)
				couplingKLGiven(f, x, ctx, n, grad, dc)
				checkGrad(t, name+"/kl", f, func() float64 { return couplingKLGiven(f, x, ctx, n, nil, nil) }, grad)
				checkVecGrad(t, name+"/kl/∂c", ctx, func(v []float64) float64 { return couplingKLGiven(f, x, v, n, nil, nil) }, dc)
			}
		}
	}
}

// TestResidualMixedGradients: residual couplings beside a plain one, a
// permutation and an inverted residual coupling in one flow.
func TestResidualMixedGradients(t *testing.T) {
	const d = 4
	c1, err := NewCoupling(CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{6}, Activation: Tanh, ResidualBlocks: 2})
	if err != nil {
		t.Fatal(err)
	}
	rp, _ := NewRandomPermutation(d, 4)
	c2, err := NewCoupling(CouplingConfig{Mask: EvenOddMask(d, true), Hidden: []int{5}, Activation: ReLU, Func: Affine{Clamp: 2}, ResidualBlocks: 1})
	if err != nil {
		t.Fatal(err)
	}
	c3, _ := NewCoupling(CouplingConfig{Mask: HalfMask(d, true), Hidden: []int{5, 4}, Activation: ReLU})
	f, err := New(c1, rp, Invert(c2), c3)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.4, 8)
	checkFlowGrads(t, "mixed", f, true, true)
	roundTrip(t, "mixed", f, 9, 1e-12)
}

func TestResidualLogDet(t *testing.T) {
	for _, cf := range resFuncs(t) {
		for _, d := range []int{2, 3, 6} {
			f := resCouplingFlow(t, d, 0, 8, 2, Tanh, cf.h, 0.4, 5)
			for i, l := range f.Layers() {
				checkLayerLogDets(t, fmt.Sprintf("%s/D=%d/layer %d", cf.name, d, i), l, randomRows(3, d, 9), 1e-7)
			}
		}
	}
}

func TestResidualContextLogDet(t *testing.T) {
	for _, cf := range resFuncs(t) {
		for _, d := range []int{2, 5} {
			const nc = 3
			f := resCouplingFlow(t, d, nc, 8, 2, ReLU, cf.h, 0.4, 6)
			for i, l := range f.Layers() {
				checkLayerLogDetsGiven(t, fmt.Sprintf("%s/D=%d/C=%d/layer %d", cf.name, d, nc, i), l, randomRows(3, d, 9), randomRows(3, nc, 10), 1e-7)
			}
		}
	}
}

// TestResidualNoRows: passes over no rows write nothing and do not fail.
func TestResidualNoRows(t *testing.T) {
	c, err := NewCoupling(CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, ResidualBlocks: 2, ContextDim: 1})
	if err != nil {
		t.Fatal(err)
	}
	work := make([]float64, c.WorkLen(0))
	grad := make([]float64, c.NumParams())
	c.Forward(nil, nil, nil, nil, work)
	c.ForwardBackward(nil, nil, nil, nil, nil, nil, nil, work, grad)
	c.Inverse(nil, nil, nil, nil, work)
	c.InverseBackward(nil, nil, nil, nil, nil, nil, nil, work, grad)
	if maxAbsDiff(grad, make([]float64, len(grad))) != 0 {
		t.Error("a backward pass over no rows wrote a gradient")
	}
}

func TestResidualRoundTrip(t *testing.T) {
	for d := 2; d <= 9; d++ {
		for _, cf := range resFuncs(t) {
			for _, act := range []Activation{ReLU, Tanh} {
				f := resCouplingFlow(t, d, 0, 16, 2, act, cf.h, 0.15, uint64(d))
				roundTrip(t, fmt.Sprintf("%s/%v/D=%d", cf.name, act, d), f, 70, 1e-12)
				fc := resCouplingFlow(t, d, 2, 16, 2, act, cf.h, 0.15, uint64(d))
				roundTripGiven(t, fmt.Sprintf("%s/%v/D=%d/C=2", cf.name, act, d), fc, 70, 1e-12)
			}
		}
	}
}

// TestResidualInit: a new residual coupling is the identity whatever the
// input and context; its output layer and biases are zero and its hidden
// weights lie in ±1/√fan-in, not all zero.
func TestResidualInit(t *testing.T) {
	const d, nc, n, R = 5, 2, 4, 2
	c, err := NewCoupling(CouplingConfig{Mask: EvenOddMask(d, false), Hidden: []int{7}, Activation: ReLU, Seed: 9, ContextDim: nc, ResidualBlocks: R})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Params()
	L := c.cond.numLayers()
	if L != 2*R+2 {
		t.Fatalf("%d dense layers, want %d", L, 2*R+2)
	}
	for l := 1; l <= L; l++ {
		w, b, _ := c.cond.layer(p, l)
		in, _ := c.cond.dense(l)
		if maxAbsDiff(b, make([]float64, len(b))) != 0 {
			t.Errorf("dense layer %d: biases not zero", l)
		}
		lim, nz := 1/math.Sqrt(float64(in)), 0
		for _, v := range w {
			if l == L && v != 0 {
				t.Fatalf("output layer: weight %v, want 0", v)
			}
			if math.Abs(v) > lim {
				t.Errorf("dense layer %d: weight %v outside ±%v", l, v, lim)
			}
			if v != 0 {
				nz++
			}
		}
		if l < L && nz == 0 {
			t.Errorf("dense layer %d: all weights zero", l)
		}
	}
	x := randomRows(n, d, 3)
	ctx := randomRows(n, nc, 4)
	out := make([]float64, n*d)
	ld := make([]float64, n)
	c.Forward(out, x, ctx, ld, make([]float64, c.WorkLen(n)))
	if maxAbsDiff(out, x) != 0 || maxAbsDiff(ld, make([]float64, n)) != 0 {
		t.Errorf("a new residual coupling is not the identity: out %v, log-det %v", out, ld)
	}
}

// TestResidualDeterminism: training flows with residual conditioners is
// bit-identical with 1, 2, 3 and 8 goroutines.
func TestResidualDeterminism(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 4, Hidden: []int{16}, Activation: Tanh, Seed: 1, ResidualBlocks: 2})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.2, 3)
	checkDeterminism(t, "realnvp-res/ml", f, false, 1, 2, 3, 8)
	checkDeterminism(t, "realnvp-res/kl", f, true, 1, 2, 3, 8)
	g, err := NewNSF(NSFConfig{Dim: 3, Layers: 2, Hidden: []int{8}, Activation: ReLU, Seed: 2, ResidualBlocks: 1})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(g, 0.2, 4)
	checkDeterminism(t, "nsf-res/ml", g, false, 1, 2, 3, 8)
}

// TestResidualAllocs: a residual coupling's passes and a training step of
// a flow of them allocate nothing in steady state.
func TestResidualAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	const d, nc, n = 5, 3, 300
	f, err := NewRealNVP(RealNVPConfig{Dim: d, Layers: 4, Hidden: []int{16}, Activation: ReLU, ContextDim: nc, ResidualBlocks: 2})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.1, 1)
	x := randomRows(n, d, 1)
	ctx := randomRows(n, nc, 2)
	out := make([]float64, n*d)
	din := make([]float64, n*d)
	ld := make([]float64, n)
	dc := make([]float64, n*nc)
	grad := make([]float64, f.NumParams())
	l := f.Layers()[0].(*Coupling)
	lg := grad[:l.NumParams()]
	work := make([]float64, l.WorkLen(n))
	ws := f.newWorkspace(n)
	g, err := NewNSF(NSFConfig{Dim: d, Layers: 2, Hidden: []int{16}, ResidualBlocks: 2})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(g, 0.1, 1)
	ml := NewMaxLikelihood(g, 2, 64)
	opt := NewAdam(1e-3)
	gg := make([]float64, g.NumParams())
	xm := mat.NewDense(n, d, x)
	for name, fn := range map[string]func(){
		"Coupling.Forward+ForwardBackward": func() {
			l.Forward(out, x, ctx, ld, work)
			l.ForwardBackward(din, dc, x, ld, x, out, ctx, work, lg)
		},
		"Coupling.Inverse+InverseBackward": func() {
			l.Inverse(out, x, ctx, ld, work)
			l.InverseBackward(din, dc, x, ld, x, out, ctx, work, lg)
		},
		"maximum likelihood": func() { f.inversePass(ws, x, ctx, n); f.nllBackward(ws, n, grad, dc) },
		"reverse KL":         func() { f.drawPass(ws, x, ctx, n); f.klBackward(ws, n, banana, grad, dc) },
		"NSF training step":  func() { ml.LossGrad(gg, xm); opt.Step(g.Params(), gg) },
	} {
		fn()
		if a := testing.AllocsPerRun(20, fn); a > 0 {
			t.Errorf("%s: %v allocations per call in steady state", name, a)
		}
	}
}

// TestResidualSize: the footprint the constructors check is the layer's.
func TestResidualSize(t *testing.T) {
	sp, _ := NewRQSpline(5, 3)
	for _, nc := range []int{0, 3} {
		for _, R := range []int{1, 3} {
			for _, h := range []CouplingFunc{Affine{}, sp} {
				c, err := NewCoupling(CouplingConfig{Mask: EvenOddMask(5, false), Hidden: []int{9}, Func: h, ContextDim: nc, ResidualBlocks: R})
				if err != nil {
					t.Fatal(err)
				}
				s := couplingSizeBlocks(len(c.ia)+nc, len(c.ib), h.ParamsPerDim(), c.tl, c.Hidden(), R)
				if s.params != float64(c.NumParams()) || s.work != float64(c.WorkLen(evalShard)) {
					t.Errorf("C=%d R=%d %T: computed footprint %+v, the layer has %d parameters and a workspace of %d", nc, R, h, s, c.NumParams(), c.WorkLen(evalShard))
				}
			}
		}
	}
	// A width whose blocks would exceed the parameter limit.
	_, err := NewCoupling(CouplingConfig{Mask: []bool{true, false}, Hidden: []int{1 << 13}, ResidualBlocks: 4})
	if err == nil || !strings.Contains(err.Error(), "parameters") {
		t.Errorf("a residual conditioner of 4 blocks of width 2^13: error %v, want the parameter limit", err)
	}
}

func TestResidualBadConfig(t *testing.T) {
	m := []bool{true, false}
	cases := []struct {
		cfg  CouplingConfig
		want string
	}{
		{CouplingConfig{Mask: m, Hidden: []int{4}, ResidualBlocks: -1}, "-1 residual blocks < 0"},
		{CouplingConfig{Mask: m, Hidden: []int{4}, ResidualBlocks: 65}, "65 residual blocks, more than the limit of 64"},
		{CouplingConfig{Mask: m, ResidualBlocks: 1}, "exactly one hidden width"},
		{CouplingConfig{Mask: m, Hidden: []int{4, 4}, ResidualBlocks: 2}, "exactly one hidden width, the blocks' width H, not 2"},
		{CouplingConfig{Mask: m, Hidden: []int{0}, ResidualBlocks: 2}, "hidden layer 0 has width 0"},
	}
	for _, c := range cases {
		_, err := NewCoupling(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewCoupling(%+v): error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
	if _, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{4, 4}, ResidualBlocks: 1}); err == nil || !strings.Contains(err.Error(), "NewRealNVP: residual blocks (1) need exactly one hidden width") {
		t.Errorf("NewRealNVP with two hidden widths and residual blocks: error %v", err)
	}
	if _, err := NewNSF(NSFConfig{Dim: 3, Layers: 2, ResidualBlocks: 1}); err == nil || !strings.Contains(err.Error(), "NewNSF: residual blocks (1) need exactly one hidden width") {
		t.Errorf("NewNSF with no hidden width and residual blocks: error %v", err)
	}
	if _, err := NewNSF(NSFConfig{Dim: 3, Layers: 2, Hidden: []int{4}, ResidualBlocks: -2}); err == nil || !strings.Contains(err.Error(), "-2 residual blocks") {
		t.Errorf("NewNSF with -2 residual blocks: error %v", err)
	}
	// Refused by its size before anything is allocated.
	if _, err := NewNSF(NSFConfig{Dim: 3, Layers: 2, Hidden: []int{1 << 13}, ResidualBlocks: 4}); err == nil || !strings.Contains(err.Error(), "NewNSF: a layer would need") {
		t.Errorf("NewNSF with 4 residual blocks of width 2^13: error %v", err)
	}
	if _, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{4}, ResidualBlocks: 65}); err == nil || !strings.Contains(err.Error(), "NewRealNVP: 65 residual blocks, more than the limit of 64") {
		t.Errorf("NewRealNVP with 65 residual blocks: error %v", err)
	}
}
