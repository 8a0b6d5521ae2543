// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
)

// The tests of conditional coupling layers (CouplingConfig.ContextDim > 0):
// the conditioner reads [z_A ; c], and the layer's gradients reach c.

// condCouplingFlow builds two coupling layers of context dimension nc with
// alternating even/odd masks and random parameters, so that both halves are
// transformed and every parameter and context column matters.
func condCouplingFlow(t *testing.T, d, nc int, hidden []int, act Activation, h CouplingFunc, seed uint64) *Flow {
	t.Helper()
	var layers []Layer
	for l := 0; l < 2; l++ {
		c, err := NewCoupling(CouplingConfig{Mask: EvenOddMask(d, l == 1), Hidden: hidden, Activation: act, Func: h, Seed: seed + uint64(l), ContextDim: nc})
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, c)
	}
	f, err := New(layers...)
	if err != nil {
		t.Fatal(err)
	}
	if f.ContextDim() != nc {
		t.Fatalf("a flow of couplings with context dimension %d has ContextDim %d", nc, f.ContextDim())
	}
	randomizeParams(f, 0.4, seed)
	return f
}

// randomCoupling returns a coupling layer with random parameters drawn from
// N(0, scale²).
func randomCoupling(t *testing.T, cfg CouplingConfig, scale float64, seed uint64) *Coupling {
	t.Helper()
	c, err := NewCoupling(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(seed, 3))
	for i := range c.Params() {
		c.Params()[i] = scale * rnd.NormFloat64()
	}
	return c
}

// couplingNLLGiven returns Σ_i −log p(x_i | c_i) over the n rows of x with
// their contexts ctx, through the passes training uses. It adds the
// gradient with respect to the parameters into grad and writes those with
// respect to the contexts into dc (n×C) and to x into dx (n×D); dc and dx
// may be nil.
func couplingNLLGiven(f *Flow, x, ctx []float64, n int, grad, dc, dx []float64) float64 {
	ws := f.newWorkspace(n)
	f.inversePass(ws, x, ctx, n)
	if grad == nil {
		grad = make([]float64, f.NumParams())
	}
	loss := f.nllBackward(ws, n, grad, dc)
	copy(dx, ws.dx)
	return loss
}

// couplingKLGiven returns the summed reverse-KL loss to banana of the base
// draws z with their contexts ctx. It adds the gradient with respect to the
// parameters into grad and writes that with respect to the contexts into dc
// (n×C); dc may be nil.
func couplingKLGiven(f *Flow, z, ctx []float64, n int, grad, dc []float64) float64 {
	ws := f.newWorkspace(n)
	f.drawPass(ws, z, ctx, n)
	if grad == nil {
		grad = make([]float64, f.NumParams())
	}
	return f.klBackward(ws, n, banana, grad, dc)
}

// checkVecGrad compares grad with the central finite difference of loss at
// at, with checkGrad's error measure.
func checkVecGrad(t *testing.T, name string, at []float64, loss func(v []float64) float64, grad []float64) {
	t.Helper()
	num := fd.Gradient(nil, loss, at, &fd.Settings{Formula: fd.Central, Step: 1e-5})
	compareGrad(t, name, num, grad)
}

// TestCouplingContextGradients checks, by finite differences through a
// flow of two conditional couplings, the gradients of maximum likelihood
// (through Inverse) with respect to every parameter, the contexts and x, and
// of reverse KL (through Forward) with respect to every parameter and the
// contexts.
func TestCouplingContextGradients(t *testing.T) {
	const d, n = 5, 5
	for _, cf := range couplingFuncs {
		for _, hidden := range [][]int{{7}, {6, 5}} {
			for _, act := range []Activation{ReLU, Tanh} {
				for _, nc := range []int{1, 3} {
					name := fmt.Sprintf("%s/%v/%v/C=%d", cf.name, hidden, act, nc)
					f := condCouplingFlow(t, d, nc, hidden, act, cf.h, 3)
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
					couplingKLGiven(f, x, ctx, n, grad, dc)
					checkGrad(t, name+"/kl", f, func() float64 { return couplingKLGiven(f, x, ctx, n, nil, nil) }, grad)
					checkVecGrad(t, name+"/kl/∂c", ctx, func(v []float64) float64 { return couplingKLGiven(f, x, v, n, nil, nil) }, dc)
				}
			}
		}
	}
}

// TestCouplingContextMixedGradients: a conditional coupling, a permutation,
// an inverted conditional coupling and a coupling without context in one
// flow; the context passes through Inverted and is ignored by the layer of
// context dimension 0.
func TestCouplingContextMixedGradients(t *testing.T) {
	const d, nc, n = 4, 2, 5
	c1, err1 := NewCoupling(CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{6}, Activation: Tanh, ContextDim: nc})
	rp, err2 := NewRandomPermutation(d, 4)
	c2, err3 := NewCoupling(CouplingConfig{Mask: EvenOddMask(d, true), Hidden: []int{5}, Activation: Tanh, Func: Affine{Clamp: 2}, ContextDim: nc})
	c3, err4 := NewCoupling(CouplingConfig{Mask: HalfMask(d, true), Hidden: []int{5}, Activation: ReLU, Func: Additive{}})
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := New(c1, rp, Invert(c2), c3)
	if err != nil {
		t.Fatal(err)
	}
	if f.ContextDim() != nc {
		t.Fatalf("ContextDim %d, want %d", f.ContextDim(), nc)
	}
	randomizeParams(f, 0.4, 8)
	x := randomRows(n, d, 11)
	ctx := randomRows(n, nc, 13)
	grad := make([]float64, f.NumParams())
	dc := make([]float64, n*nc)
	dx := make([]float64, n*d)
	couplingNLLGiven(f, x, ctx, n, grad, dc, dx)
	checkGrad(t, "mixed/ml", f, func() float64 { return couplingNLLGiven(f, x, ctx, n, nil, nil, nil) }, grad)
	checkVecGrad(t, "mixed/ml/∂c", ctx, func(v []float64) float64 { return couplingNLLGiven(f, x, v, n, nil, nil, nil) }, dc)
	checkVecGrad(t, "mixed/ml/∂x", x, func(v []float64) float64 { return couplingNLLGiven(f, v, ctx, n, nil, nil, nil) }, dx)
	grad = make([]float64, f.NumParams())
	couplingKLGiven(f, x, ctx, n, grad, dc)
	checkGrad(t, "mixed/kl", f, func() float64 { return couplingKLGiven(f, x, ctx, n, nil, nil) }, grad)
	checkVecGrad(t, "mixed/kl/∂c", ctx, func(v []float64) float64 { return couplingKLGiven(f, x, v, n, nil, nil) }, dc)
	roundTripGiven(t, "mixed", f, 9, 1e-12)
}

// layerLossGiven runs one pass of l over the n rows of in with contexts ctx
// and returns L = Σ w ⊙ out + Σ v ⊙ logdet.
func layerLossGiven(l Layer, forward bool, in, ctx, w, v []float64) float64 {
	n := len(v)
	out := make([]float64, len(in))
	ld := make([]float64, n)
	work := make([]float64, l.WorkLen(n))
	if forward {
		l.Forward(out, in, ctx, ld, work)
	} else {
		l.Inverse(out, in, ctx, ld, work)
	}
	s := 0.0
	for i, o := range out {
		s += w[i] * o
	}
	for i, g := range ld {
		s += v[i] * g
	}
	return s
}

// TestCouplingContextLayerGrads checks one conditional coupling layer's
// backward passes, in both directions, against finite differences of the
// scalar L = Σ w ⊙ out + Σ v ⊙ logdet: ∂L/∂in, ∂L/∂c and ∂L/∂θ. dc and grad
// start non-zero, so that the test also holds the passes to adding into
// them.
func TestCouplingContextLayerGrads(t *testing.T) {
	const n = 4
	for _, cf := range couplingFuncs {
		for _, d := range []int{3, 6} {
			for _, nc := range []int{1, 4} {
				for _, hidden := range [][]int{nil, {5}, {4, 3}} {
					l := randomCoupling(t, CouplingConfig{Mask: HalfMask(d, d == 3), Hidden: hidden, Activation: Tanh, Func: cf.h, Seed: 2, ContextDim: nc}, 0.4, uint64(d+nc))
					in := randomRows(n, d, 31)
					ctx := randomRows(n, nc, 32)
					w := randomRows(n, d, 33)
					v := randomRows(1, n, 34)
					for _, forward := range []bool{true, false} {
						name := fmt.Sprintf("%s/D=%d/C=%d/%v/forward=%v", cf.name, d, nc, hidden, forward)
						out := make([]float64, n*d)
						ld := make([]float64, n)
						work := make([]float64, l.WorkLen(n))
						din := make([]float64, n*d)
						dc0 := randomRows(n, nc, 35)
						dc := append([]float64(nil), dc0...)
						g0 := randomRows(1, l.NumParams(), 36)
						grad := append([]float64(nil), g0...)
						if forward {
							l.Forward(out, in, ctx, ld, work)
							l.ForwardBackward(din, dc, w, v, in, out, ctx, work, grad)
						} else {
							l.Inverse(out, in, ctx, ld, work)
							l.InverseBackward(din, dc, w, v, in, out, ctx, work, grad)
						}
						for i := range dc {
							dc[i] -= dc0[i]
						}
						for i := range grad {
							grad[i] -= g0[i]
						}
						checkVecGrad(t, name+"/∂in", in, func(u []float64) float64 { return layerLossGiven(l, forward, u, ctx, w, v) }, din)
						checkVecGrad(t, name+"/∂c", ctx, func(u []float64) float64 { return layerLossGiven(l, forward, in, u, w, v) }, dc)
						p := l.Params()
						p0 := append([]float64(nil), p...)
						checkVecGrad(t, name+"/∂θ", p0, func(u []float64) float64 {
							copy(p, u)
							return layerLossGiven(l, forward, in, ctx, w, v)
						}, grad)
						copy(p, p0)
					}
				}
			}
		}
	}
}

// checkLayerLogDetsGiven compares both directions' reported
// log-determinants of l with those of numerical Jacobians with respect to
// the row, its context held fixed.
func checkLayerLogDetsGiven(t *testing.T, name string, l Layer, rows, ctx []float64, tol float64) {
	t.Helper()
	d, nc := l.Dim(), l.ContextDim()
	n := len(rows) / d
	work := make([]float64, l.WorkLen(1))
	for dir := 0; dir < 2; dir++ {
		for r := 0; r < n; r++ {
			cr := ctx[r*nc : r*nc+nc]
			pass := func(dst, src, ld []float64) {
				if dir == 0 {
					l.Forward(dst, src, cr, ld, work)
				} else {
					l.Inverse(dst, src, cr, ld, work)
				}
			}
			at := rows[r*d : r*d+d]
			ld := []float64{0}
			pass(make([]float64, d), at, ld)
			want := numLogDet(d, func(dst, src []float64) { pass(dst, src, []float64{0}) }, at)
			if math.Abs(ld[0]-want) > tol*math.Max(1, math.Abs(want)) {
				t.Errorf("%s: direction %d row %d: log|det| %.12g, numerical %.12g", name, dir, r, ld[0], want)
			}
		}
	}
}

func TestCouplingContextLogDet(t *testing.T) {
	for _, cf := range couplingFuncs {
		for _, d := range []int{2, 3, 6} {
			for _, nc := range []int{1, 4} {
				f := condCouplingFlow(t, d, nc, []int{8}, Tanh, cf.h, 5)
				for i, l := range f.Layers() {
					checkLayerLogDetsGiven(t, fmt.Sprintf("%s/D=%d/C=%d/layer %d", cf.name, d, nc, i), l, randomRows(3, d, 9), randomRows(3, nc, 10), 1e-7)
				}
			}
		}
	}
}

// roundTripGiven checks Inverse(Forward(z | c) | c) = z and that the two
// log-dets are negatives of each other, row by row, through the flow's
// passes.
func roundTripGiven(t *testing.T, name string, f *Flow, n int, tol float64) {
	t.Helper()
	d, nc := f.Dim(), f.ContextDim()
	z := randomRows(n, d, 77)
	ctx := randomRows(n, nc, 78)
	ws := f.newWorkspace(n)
	f.forwardPass(ws, z, ctx, n)
	x := append([]float64(nil), ws.bufs[len(f.Layers())][:n*d]...)
	ldf := append([]float64(nil), ws.logdet[:n]...)
	f.inversePass(ws, x, ctx, n)
	back, ldi := ws.bufs[0][:n*d], ws.logdet[:n]
	if e := maxAbsDiff(back, z); !(e <= tol) {
		t.Errorf("%s: Inverse(Forward(z | c) | c) differs from z by %g", name, e)
	}
	for i := range ldf {
		if e := ldf[i] + ldi[i]; !(abs(e) <= tol*max(1, abs(ldf[i]))) {
			t.Errorf("%s: row %d: forward log-det %g, inverse %g", name, i, ldf[i], ldi[i])
		}
	}
	if maxAbsDiff(x, z) == 0 {
		t.Errorf("%s: Forward is the identity: the round trip checks nothing", name)
	}
}

func TestCouplingContextRoundTrip(t *testing.T) {
	for d := 2; d <= 9; d++ {
		for _, nc := range []int{1, 3} {
			for _, cf := range couplingFuncs {
				f := condCouplingFlow(t, d, nc, []int{16, 16}, ReLU, cf.h, uint64(d))
				// Moderate scales, as in TestCouplingRoundTrip.
				randomizeParams(f, 0.15, uint64(d))
				roundTripGiven(t, fmt.Sprintf("%s/D=%d/C=%d", cf.name, d, nc), f, 70, 1e-12)
			}
			for _, evenOdd := range []bool{false, true} {
				f, err := NewRealNVP(RealNVPConfig{Dim: d, Layers: 10, Hidden: []int{16, 16}, Activation: Tanh, EvenOdd: evenOdd, Clamp: 2, ContextDim: nc})
				if err != nil {
					t.Fatal(err)
				}
				if f.ContextDim() != nc {
					t.Fatalf("NewRealNVP with ContextDim %d: the flow's ContextDim is %d", nc, f.ContextDim())
				}
				for i, l := range f.Layers() {
					if l.ContextDim() != nc {
						t.Fatalf("NewRealNVP with ContextDim %d: layer %d has ContextDim %d", nc, i, l.ContextDim())
					}
				}
				randomizeParams(f, 0.2, uint64(d))
				roundTripGiven(t, fmt.Sprintf("realnvp10/evenodd=%v/D=%d/C=%d", evenOdd, d, nc), f, 70, 1e-12)
			}
		}
	}
}

// TestCouplingContextDependence: a new conditional layer is the identity
// whatever its context; once its last layer is not zero, changing any one
// context column changes every transformed output of every row, in both
// directions, and leaves the pass-through dimensions alone.
func TestCouplingContextDependence(t *testing.T) {
	const d, nc, n = 5, 3, 4
	for _, cf := range couplingFuncs {
		cfg := CouplingConfig{Mask: EvenOddMask(d, false), Hidden: []int{8}, Activation: Tanh, Func: cf.h, Seed: 4, ContextDim: nc}
		in := randomRows(n, d, 41)
		ctx := randomRows(n, nc, 42)
		fresh, err := NewCoupling(cfg)
		if err != nil {
			t.Fatal(err)
		}
		work := make([]float64, fresh.WorkLen(n))
		for _, forward := range []bool{true, false} {
			out := make([]float64, n*d)
			ld := make([]float64, n)
			if forward {
				fresh.Forward(out, in, ctx, ld, work)
			} else {
				fresh.Inverse(out, in, ctx, ld, work)
			}
			for i := range out {
				if out[i] != in[i] {
					t.Errorf("%s: a new layer is not the identity (forward=%v): element %d is %v, want %v", cf.name, forward, i, out[i], in[i])
				}
			}
			for i, v := range ld {
				if v != 0 {
					t.Errorf("%s: a new layer has log-det %v at row %d (forward=%v)", cf.name, v, i, forward)
				}
			}
		}

		l := randomCoupling(t, cfg, 0.4, 6)
		pass := func(ctx []float64, forward bool) []float64 {
			out := make([]float64, n*d)
			if forward {
				l.Forward(out, in, ctx, make([]float64, n), work)
			} else {
				l.Inverse(out, in, ctx, make([]float64, n), work)
			}
			return out
		}
		for _, forward := range []bool{true, false} {
			base := pass(ctx, forward)
			for j := 0; j < nc; j++ {
				moved := append([]float64(nil), ctx...)
				for r := 0; r < n; r++ {
					moved[r*nc+j] += 0.5
				}
				out := pass(moved, forward)
				for r := 0; r < n; r++ {
					for i := 0; i < d; i++ {
						k := r*d + i
						if i%2 == 0 && out[k] != base[k] {
							t.Errorf("%s forward=%v: moving context column %d changed pass-through element (%d, %d)", cf.name, forward, j, r, i)
						}
						if i%2 == 1 && out[k] == base[k] {
							t.Errorf("%s forward=%v: moving context column %d left transformed element (%d, %d) at %v", cf.name, forward, j, r, i, out[k])
						}
					}
				}
			}
		}
	}
}

// TestCouplingContextLayout pins the conditioner's input layout [z_A ; c]:
// with no hidden layer and additive coupling, x_B = z_B + W·[z_A ; c] + b,
// W of shape 1×(|A|+C) stored first, then b.
func TestCouplingContextLayout(t *testing.T) {
	c, err := NewCoupling(CouplingConfig{Mask: []bool{false, true}, Func: Additive{}, ContextDim: 2})
	if err != nil {
		t.Fatal(err)
	}
	if c.NumParams() != 4 || c.ContextDim() != 2 {
		t.Fatalf("NumParams %d, ContextDim %d: want 4 = 1×(1+2) weights and a bias, and 2", c.NumParams(), c.ContextDim())
	}
	z := []float64{10, 1000}   // z_0 is transformed, z_1 passes through
	ctx := []float64{100, 1e4} // c_0, c_1
	for _, tc := range []struct {
		p    []float64
		want float64
	}{
		{[]float64{1, 0, 0, 0}, 10 + 1000},
		{[]float64{0, 1, 0, 0}, 10 + 100},
		{[]float64{0, 0, 1, 0}, 10 + 1e4},
		{[]float64{0, 0, 0, 1}, 10 + 1},
		{[]float64{2, 3, 5, 7}, 10 + 2*1000 + 3*100 + 5*1e4 + 7},
	} {
		copy(c.Params(), tc.p)
		x := make([]float64, 2)
		c.Forward(x, z, ctx, []float64{0}, make([]float64, c.WorkLen(1)))
		if x[0] != tc.want || x[1] != z[1] {
			t.Errorf("parameters %v: x = %v, want [%v %v]", tc.p, x, tc.want, z[1])
		}
	}
}

// TestCouplingContextInit: the first layer's fan-in includes the context:
// its weights are drawn from U(−1/√(|A|+C), 1/√(|A|+C)); the biases and the
// last layer start at zero.
func TestCouplingContextInit(t *testing.T) {
	c, err := NewCoupling(CouplingConfig{Mask: HalfMask(4, false), Hidden: []int{64, 32}, Activation: ReLU, ContextDim: 6, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Params()
	w, b, _ := c.cond.layer(p, 1)
	if len(w) != 64*8 {
		t.Fatalf("first layer has %d weights, want 64×(2+6)", len(w))
	}
	lim := 1 / math.Sqrt(8)
	big := 0.0
	for _, v := range w {
		big = math.Max(big, math.Abs(v))
	}
	if !(big <= lim && big >= 0.9*lim) {
		t.Errorf("first layer's largest |weight| is %v, want it in [0.9, 1]·1/√8 = %v", big, lim)
	}
	for _, v := range b {
		if v != 0 {
			t.Fatalf("first layer's biases are not zero: %v", b)
		}
	}
	w3, b3, _ := c.cond.layer(p, 3)
	for _, v := range append(append([]float64(nil), w3...), b3...) {
		if v != 0 {
			t.Fatalf("the last layer is not zero")
		}
	}
}

// couplingPassRecord is what one pass and its backward pass over two rows
// returned before coupling layers took a context.
type couplingPassRecord struct {
	out, ld, din, grad []float64
}

// mulAddProbe holds a, b, c with a·b + c = −2⁻⁶⁰ exactly, 0 when a·b is
// rounded first.
var mulAddProbe = []float64{1 + 0x1p-30, 1 - 0x1p-30, -1}

// fusesMulAdd reports whether this build computes a·b + c with a fused
// multiply-add, as Go does on arm64 and on amd64 from GOAMD64=v3.
func fusesMulAdd() bool {
	return mulAddProbe[0]*mulAddProbe[1]+mulAddProbe[2] != 0
}

// TestCouplingNoContextUnchanged holds layers without context to the bits
// they computed before coupling layers took a context (recorded on amd64
// without fused multiply-adds, for the assembly kernels and the plain-Go
// ones; other builds round differently and are held to 1e-13), and checks
// that a layer of context dimension 0 ignores a context it is given and
// adds nothing into a context gradient.
func TestCouplingNoContextUnchanged(t *testing.T) {
	cfgs := []CouplingConfig{
		{Mask: []bool{true, false, true}, Hidden: []int{3}, Activation: Tanh, Func: Affine{Clamp: 1.5}, Seed: 7},
		{Mask: []bool{false, true, true}, Hidden: []int{2, 3}, Activation: ReLU, Func: Affine{}, Seed: 8},
		{Mask: []bool{true, true, false}, Hidden: []int{4}, Activation: Tanh, Func: Additive{}, Seed: 9, ContextDim: 0},
	}
	want := couplingNoContextRef
	if kernUseAsm {
		want = couplingNoContextAsm
	}
	exact := runtime.GOARCH == "amd64" && !fusesMulAdd()
	same := func(name string, got, want []float64) {
		t.Helper()
		for i := range want {
			g, w := got[i], want[i]
			if exact && math.Float64bits(g) != math.Float64bits(w) || !exact && !(math.Abs(g-w) <= 1e-13*math.Max(1, math.Abs(w))) {
				t.Errorf("%s: element %d is %v, want %v (exact: %v)", name, i, g, w, exact)
				return
			}
		}
	}
	const n, d = 2, 3
	in := randomRows(n, d, 21)
	w := randomRows(n, d, 22)
	v := []float64{0.7, -1.3}
	for ci, cfg := range cfgs {
		c := randomCoupling(t, cfg, 0.4, uint64(ci))
		if c.ContextDim() != 0 {
			t.Fatalf("config %d: ContextDim %d", ci, c.ContextDim())
		}
		work := make([]float64, c.WorkLen(n))
		for dir := 0; dir < 2; dir++ {
			rec := want[2*ci+dir]
			// With no context, then with a context of 7 columns the
			// layer must ignore, and a context gradient it must leave.
			for _, ctx := range [][]float64{nil, randomRows(n, 7, 23)} {
				name := fmt.Sprintf("config %d direction %d context %v", ci, dir, ctx != nil)
				var dc, dc0 []float64
				if ctx != nil {
					dc0 = randomRows(n, 7, 24)
					dc = append([]float64(nil), dc0...)
				}
				out := make([]float64, n*d)
				ld := []float64{0.25, -0.5}
				din := make([]float64, n*d)
				grad := make([]float64, c.NumParams())
				if dir == 0 {
					c.Forward(out, in, ctx, ld, work)
					c.ForwardBackward(din, dc, w, v, in, out, ctx, work, grad)
				} else {
					c.Inverse(out, in, ctx, ld, work)
					c.InverseBackward(din, dc, w, v, in, out, ctx, work, grad)
				}
				same(name+": out", out, rec.out)
				same(name+": logdet", ld, rec.ld)
				same(name+": ∂L/∂in", din, rec.din)
				same(name+": ∂L/∂θ", grad, rec.grad)
				for i := range dc {
					if math.Float64bits(dc[i]) != math.Float64bits(dc0[i]) {
						t.Errorf("%s: a layer without context changed the context gradient", name)
						break
					}
				}
			}
		}
	}
}

func TestCouplingContextBadConfig(t *testing.T) {
	for _, tc := range []struct {
		nc     int
		hidden []int
		want   string
	}{
		{-1, nil, "context dimension -1 < 0"},
		{maxDim + 1, nil, fmt.Sprintf("context dimension %d is more than the limit of %d", maxDim+1, maxDim)},
		// 2^23 context columns into 64 hidden units: 2^29 weights.
		{1 << 23, []int{64}, "would need"},
	} {
		_, err := NewCoupling(CouplingConfig{Mask: []bool{true, false}, Hidden: tc.hidden, ContextDim: tc.nc})
		if err == nil || !strings.Contains(err.Error(), "NewCoupling") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewCoupling with ContextDim %d: error %v, want one saying %q", tc.nc, err, tc.want)
		}
		_, err = NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: tc.hidden, ContextDim: tc.nc})
		if err == nil || !strings.Contains(err.Error(), "NewRealNVP") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewRealNVP with ContextDim %d: error %v, want one saying %q", tc.nc, err, tc.want)
		}
	}
	// 2^19 context columns fit: a workspace of 2^27 for the gathered
	// input and its gradient over a shard, 2^23 weights.
	if _, err := NewCoupling(CouplingConfig{Mask: []bool{true, false}, Hidden: []int{16}, ContextDim: 1 << 19}); err != nil {
		t.Errorf("NewCoupling with 2^19 context columns: %v", err)
	}
}

func TestCouplingContextWrongShapePanics(t *testing.T) {
	const n, nc = 2, 3
	c := randomCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{4}, ContextDim: nc}, 0.3, 1)
	x := randomRows(n, 3, 1)
	z := make([]float64, n*3)
	work := make([]float64, c.WorkLen(n))
	good := randomRows(n, nc, 2)
	for _, bad := range [][]float64{nil, make([]float64, 5), make([]float64, 9)} {
		for name, call := range map[string]func(){
			"Coupling.Forward": func() { c.Forward(z, x, bad, make([]float64, n), work) },
			"Coupling.Inverse": func() { c.Inverse(z, x, bad, make([]float64, n), work) },
		} {
			msg := catchPanic(call)
			want := fmt.Sprintf("flow: %s: context of length %d, want 2 rows × 3 context columns = 6", name, len(bad))
			if msg != want {
				t.Errorf("%s with a context of length %d: panic %q, want %q", name, len(bad), msg, want)
			}
		}
	}
	c.Inverse(z, x, good, make([]float64, n), work)
	for name, call := range map[string]func(){
		"Coupling.InverseBackward": func() {
			c.InverseBackward(make([]float64, n*3), make([]float64, 5), z, make([]float64, n), x, z, good, work, make([]float64, c.NumParams()))
		},
		"Coupling.ForwardBackward": func() {
			c.ForwardBackward(make([]float64, n*3), make([]float64, 5), z, make([]float64, n), x, z, good, work, make([]float64, c.NumParams()))
		},
	} {
		msg := catchPanic(call)
		want := fmt.Sprintf("flow: %s: context gradient of length 5, want 2 rows × 3 context columns = 6", name)
		if msg != want {
			t.Errorf("%s with a context gradient of length 5: panic %q, want %q", name, msg, want)
		}
	}
}

// TestCouplingContextSize: the footprint NewCoupling and NewRealNVP check
// for a conditional layer, couplingSize with |A| + C inputs, is the one
// the layer has.
func TestCouplingContextSize(t *testing.T) {
	for _, nc := range []int{1, 5} {
		f, err := NewRealNVP(RealNVPConfig{Dim: 5, Layers: 2, Hidden: []int{7, 3}, ContextDim: nc})
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range f.Layers() {
			c := l.(*Coupling)
			s := couplingSize(len(c.ia)+nc, len(c.ib), c.h.ParamsPerDim(), c.Hidden())
			if s.params != float64(c.NumParams()) || s.work != float64(c.WorkLen(evalShard)) {
				t.Errorf("C=%d: coupling layer %d: computed footprint %+v, the layer has %d parameters and a workspace of %d", nc, i, s, c.NumParams(), c.WorkLen(evalShard))
			}
		}
	}
}

// TestCouplingContextAllocs: with a context, the layer's passes and the
// flow's training passes allocate nothing in steady state.
func TestCouplingContextAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Log("allocation counts are not meaningful under -race or -cover")
		return
	}
	const d, nc, n = 5, 3, 300
	f, err := NewRealNVP(RealNVPConfig{Dim: d, Layers: 4, Hidden: []int{16}, Activation: ReLU, ContextDim: nc})
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
	} {
		fn()
		if a := testing.AllocsPerRun(20, fn); a > 0 {
			t.Errorf("%s: %v allocations per call in steady state", name, a)
		}
	}
}

var couplingNoContextRef = []couplingPassRecord{
	{
		out:  []float64{-0.1635698125210796, 1.1504618673496898, 1.2192408625888935, -0.3091908898887929, -0.22980008394409474, 0.22018416837241683},
		ld:   []float64{0.19574097573248128, -0.7174018830350479},
		din:  []float64{0.6782413744297606, 0.22990223121213244, 0.7503406115714166, 0.4454015291880279, 0.7242957522552365, 0.573146227282522},
		grad: []float64{0.07237268089739106, -0.055735141765816267, 0.14755455922333935, 0.29888139853267803, 0.09753096832102243, 0.1523951664948287, -0.23586341396906413, -0.3047017862179642, -0.22068989353219387, -0.6683933659394588, 0.23751615213937535, 0.5208466678861686, -0.052345413075122346, -0.302755914615121, 0.14361896874408298, -1.0759689379305057, 1.142907380482338},
	},
	{
		out:  []float64{-0.1635698125210796, -0.2841080543613974, 1.2192408625888935, -0.3091908898887929, -1.6320931447976321, 0.22018416837241683},
		ld:   []float64{0.3042590242675187, -0.28259811696495213},
		din:  []float64{0.6769097162579941, 0.25625478037460436, 0.49766624415875715, 0.4502714069350505, 1.1187906147681683, 0.8680307154381328},
		grad: []float64{-0.09587495108904898, 0.07950782733917394, -0.2587938234020375, -0.14284221188322996, -0.1741866844235038, -0.06066292875258947, 0.3148805783147595, 0.6972870520862444, 0.4844769816566553, 0.6506222510902611, -0.5018263444646821, -0.4204030912124293, 0.03809338065981281, 0.3626019778381931, -0.15004219904994337, 2.080802877379404, -1.3750453951427728},
	},
	{
		out:  []float64{0.30407056896141205, 0.45263172479416913, 1.2192408625888935, 0.04904356528985754, -0.8550300982869865, 0.22018416837241683},
		ld:   []float64{0.12847146390524783, -0.6668448637697372},
		din:  []float64{0.6014593718747614, 0.2516872882601133, 0.6439178567591085, 0.37262059202160924, 0.8876767995431631, 0.6327995001221967},
		grad: []float64{0.0659214335815144, 0.03653668495612273, 0, 0, -0.015831214688913922, 0, 0.025638306744354373, 0, 0.16800329382810472, 0, 0.0014531545356635254, 0, 0.49164799284787053, 0.28865764844517194, 0.027866134760013872, -0.09898695880577155, 0.01964194232334121, -0.23936595233466432, 0.030795231569673384, 0.3696088160348122, 0.07446768767293005, -0.8135914891346513, 1.119458573298747},
	},
	{
		out:  []float64{-0.6916394271978494, 0.45263172479416913, 1.2192408625888935, -0.7324703142084942, -0.8550300982869865, 0.22018416837241683},
		ld:   []float64{0.37152853609475217, -0.3331551362302628},
		din:  []float64{0.7669457437832963, 0.23205289287226666, 0.5815944096970996, 0.5202192981777072, 0.9137432339355713, 0.71553950875807},
		grad: []float64{-0.07336537857790869, -0.04477819639022075, 0, 0, 0.01290674166744632, 0, -0.02930409039921988, 0, -0.19978389919443154, 0, -0.0013490002944552282, 0, -0.5619441787114718, -0.3413070746053774, -0.025868841251232205, 0.11348512319701475, 0.17675138402609805, 0.27442478198740544, -0.03638675091736424, -0.4212995967828969, -0.08798885621679772, 1.392238614027432, -1.2871650419610035},
	},
	{
		out:  []float64{-0.1635698125210796, 0.45263172479416913, 1.6122746052617414, -0.3091908898887929, -0.8550300982869865, 0.4822062545660788},
		ld:   []float64{0.25, -0.5},
		din:  []float64{0.6579688034736957, 0.3153649477422488, 0.6154574926718746, 0.42029223189487747, 0.9590490264076027, 0.6725069746677129},
		grad: []float64{0.010068698221130329, 0.01803153419886736, -0.028148348267774227, 0.0010481927667737242, 0.03540777538476752, 0.02676243563706654, 0.008167532732132426, 0.008002648474584862, -0.03767129283325274, 0.1320953247651104, -0.15154826018425877, -0.03400567540178195, -0.6252402007352523, -0.71678842700446, 0.28824909519780517, 0.05502752454956576, 1.2879644673395876},
	},
	{
		out:  []float64{-0.1635698125210796, 0.45263172479416913, 0.8262071199160457, -0.3091908898887929, -0.8550300982869865, -0.04183791782124513},
		ld:   []float64{0.25, -0.5},
		din:  []float64{0.7003930118287267, 0.1700773073896938, 0.6154574926718746, 0.4602630994001941, 0.8413234794251306, 0.6725069746677129},
		grad: []float64{-0.010068698221130329, -0.01803153419886736, 0.028148348267774227, -0.0010481927667737242, -0.03540777538476752, -0.02676243563706654, -0.008167532732132426, -0.008002648474584862, 0.03767129283325274, -0.1320953247651104, 0.15154826018425877, 0.03400567540178195, 0.6252402007352523, 0.71678842700446, -0.28824909519780517, -0.05502752454956576, -1.2879644673395876},
	},
}

var couplingNoContextAsm = []couplingPassRecord{
	{
		out:  []float64{-0.1635698125210796, 1.1504618673496896, 1.2192408625888935, -0.3091908898887929, -0.22980008394409474, 0.22018416837241683},
		ld:   []float64{0.19574097573248128, -0.7174018830350478},
		din:  []float64{0.6782413744297606, 0.22990223121213244, 0.7503406115714166, 0.4454015291880279, 0.7242957522552365, 0.573146227282522},
		grad: []float64{0.07237268089739106, -0.05573514176581625, 0.14755455922333935, 0.29888139853267803, 0.09753096832102241, 0.15239516649482876, -0.2358634139690641, -0.3047017862179642, -0.22068989353219384, -0.6683933659394588, 0.23751615213937535, 0.5208466678861685, -0.05234541307512239, -0.302755914615121, 0.14361896874408295, -1.0759689379305057, 1.142907380482338},
	},
	{
		out:  []float64{-0.1635698125210796, -0.28410805436139736, 1.2192408625888935, -0.3091908898887929, -1.6320931447976321, 0.22018416837241683},
		ld:   []float64{0.3042590242675187, -0.2825981169649522},
		din:  []float64{0.6769097162579941, 0.2562547803746044, 0.4976662441587571, 0.45027140693505047, 1.1187906147681683, 0.8680307154381328},
		grad: []float64{-0.09587495108904899, 0.07950782733917396, -0.2587938234020375, -0.14284221188322996, -0.1741866844235038, -0.060662928752589516, 0.3148805783147596, 0.6972870520862444, 0.4844769816566553, 0.650622251090261, -0.501826344464682, -0.4204030912124292, 0.038093380659812916, 0.3626019778381931, -0.1500421990499434, 2.080802877379404, -1.3750453951427728},
	},
	{
		out:  []float64{0.30407056896141205, 0.45263172479416913, 1.2192408625888935, 0.04904356528985754, -0.8550300982869865, 0.22018416837241683},
		ld:   []float64{0.12847146390524783, -0.6668448637697372},
		din:  []float64{0.6014593718747614, 0.2516872882601133, 0.6439178567591085, 0.37262059202160924, 0.8876767995431631, 0.6327995001221967},
		grad: []float64{0.06592143358151441, 0.03653668495612273, 0, 0, -0.015831214688913922, 0, 0.025638306744354376, 0, 0.16800329382810472, 0, 0.0014531545356635262, 0, 0.4916479928478705, 0.28865764844517194, 0.027866134760013882, -0.09898695880577153, 0.019641942323341217, -0.23936595233466432, 0.030795231569673377, 0.3696088160348122, 0.07446768767293005, -0.8135914891346513, 1.119458573298747},
	},
	{
		out:  []float64{-0.6916394271978494, 0.45263172479416913, 1.2192408625888935, -0.7324703142084942, -0.8550300982869865, 0.22018416837241683},
		ld:   []float64{0.37152853609475217, -0.3331551362302628},
		din:  []float64{0.7669457437832963, 0.23205289287226666, 0.5815944096970996, 0.5202192981777072, 0.9137432339355713, 0.71553950875807},
		grad: []float64{-0.07336537857790867, -0.044778196390220744, 0, 0, 0.01290674166744632, 0, -0.02930409039921989, 0, -0.1997838991944315, 0, -0.0013490002944552282, 0, -0.5619441787114718, -0.3413070746053774, -0.0258688412512322, 0.11348512319701473, 0.17675138402609805, 0.27442478198740544, -0.036386750917364236, -0.4212995967828969, -0.08798885621679772, 1.392238614027432, -1.2871650419610035},
	},
	{
		out:  []float64{-0.1635698125210796, 0.45263172479416913, 1.6122746052617414, -0.3091908898887929, -0.8550300982869865, 0.48220625456607885},
		ld:   []float64{0.25, -0.5},
		din:  []float64{0.6579688034736957, 0.3153649477422488, 0.6154574926718746, 0.42029223189487747, 0.9590490264076027, 0.6725069746677129},
		grad: []float64{0.010068698221130327, 0.01803153419886736, -0.028148348267774227, 0.0010481927667737234, 0.03540777538476752, 0.02676243563706654, 0.008167532732132426, 0.008002648474584862, -0.03767129283325274, 0.1320953247651104, -0.15154826018425877, -0.03400567540178195, -0.6252402007352523, -0.7167884270044599, 0.28824909519780517, 0.05502752454956577, 1.2879644673395876},
	},
	{
		out:  []float64{-0.1635698125210796, 0.45263172479416913, 0.8262071199160457, -0.3091908898887929, -0.8550300982869865, -0.041837917821245185},
		ld:   []float64{0.25, -0.5},
		din:  []float64{0.7003930118287267, 0.1700773073896938, 0.6154574926718746, 0.4602630994001941, 0.8413234794251306, 0.6725069746677129},
		grad: []float64{-0.010068698221130327, -0.01803153419886736, 0.028148348267774227, -0.0010481927667737234, -0.03540777538476752, -0.02676243563706654, -0.008167532732132426, -0.008002648474584862, 0.03767129283325274, -0.1320953247651104, 0.15154826018425877, 0.03400567540178195, 0.6252402007352523, 0.7167884270044599, -0.28824909519780517, -0.05502752454956577, -1.2879644673395876},
	},
}
