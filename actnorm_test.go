// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func ftActNorm(t testing.TB, d int) *ActNorm {
	t.Helper()
	a, err := NewActNorm(d)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestActNormBadConfig(t *testing.T) {
	for _, d := range []int{0, -1, maxDim + 1} {
		if a, err := NewActNorm(d); err == nil || !strings.HasPrefix(err.Error(), "flow: NewActNorm: dimension") {
			t.Errorf("NewActNorm(%d): %v, %v", d, a, err)
		}
	}
}

// TestActNormIdentityStart: a new layer is the identity bit for bit and not
// initialised.
func TestActNormIdentityStart(t *testing.T) {
	for _, d := range []int{1, 4} {
		a := ftActNorm(t, d)
		if a.Initialized() || a.NumParams() != 2*d {
			t.Errorf("D=%d: initialised %v, %d parameters", d, a.Initialized(), a.NumParams())
		}
		f := ftFlow(t, a)
		x := mat.NewDense(5, d, randomRows(5, d, 1))
		for name, pass := range map[string]func(dst *mat.Dense, src mat.Matrix, ld []float64){"Forward": f.Forward, "Inverse": f.Inverse} {
			var y mat.Dense
			ld := make([]float64, 5)
			pass(&y, x, ld)
			if !mat.Equal(&y, x) || maxAbsDiff(ld, make([]float64, 5)) != 0 {
				t.Errorf("D=%d: %s of a new layer is not the identity", d, name)
			}
		}
	}
}

// TestActNormMap holds the layer to its equations, with s and b read
// through LogScale and Shift from the documented layout [s ; b].
func TestActNormMap(t *testing.T) {
	a := ftActNorm(t, 3)
	f := ftFlow(t, a)
	copy(f.Params(), []float64{0.5, -1, 0, 2, 0, -3})
	if maxAbsDiff(a.LogScale(), []float64{0.5, -1, 0}) != 0 || maxAbsDiff(a.Shift(), []float64{2, 0, -3}) != 0 {
		t.Fatalf("LogScale %v, Shift %v", a.LogScale(), a.Shift())
	}
	z := mat.NewDense(1, 3, []float64{1, 2, 3})
	var x mat.Dense
	ld := []float64{0}
	f.Forward(&x, z, ld)
	want := []float64{math.Exp(0.5) + 2, 2 * math.Exp(-1), 0} // 3·e⁰ − 3 = 0
	if maxAbsDiff(x.RawMatrix().Data, want) > 1e-15 || math.Abs(ld[0]+0.5) > 1e-15 {
		t.Errorf("Forward: x %v log-det %v, want %v and −0.5", x.RawMatrix().Data, ld[0], want)
	}
}

func TestActNormLogDet(t *testing.T) {
	for _, d := range []int{1, 2, 5} {
		a := ftActNorm(t, d)
		randomizeParams(ftFlow(t, a), 0.5, uint64(d))
		checkLayerLogDets(t, fmt.Sprintf("D=%d", d), a, randomRows(3, d, 9), 1e-7)
		checkLayerLogDets(t, fmt.Sprintf("inverted/D=%d", d), Invert(a), randomRows(3, d, 9), 1e-7)
	}
}

func TestActNormRoundTrip(t *testing.T) {
	for d := 1; d <= 9; d++ {
		f := ftFlow(t, ftActNorm(t, d))
		randomizeParams(f, 0.5, uint64(d))
		roundTrip(t, fmt.Sprintf("actnorm/D=%d", d), f, 70, 1e-12)
		// Glow's step, an ActNorm and an LU layer before a coupling.
		if d >= 2 {
			var layers []Layer
			for k := 0; k < 3; k++ {
				layers = append(layers, ftActNorm(t, d), ftLU(t, luConfig(d, uint64(d+k))),
					ftCoupling(t, CouplingConfig{Mask: HalfMask(d, k%2 == 1), Hidden: []int{16}, Activation: ReLU, Seed: uint64(k)}))
			}
			g := ftFlow(t, layers...)
			randomizeParams(g, 0.15, uint64(d))
			roundTrip(t, fmt.Sprintf("glow/D=%d", d), g, 70, 1e-12)
		}
	}
}

// TestActNormGradients checks every parameter's gradient of both
// objectives against finite differences, alone, inverted and in flows with
// LU, coupling and MAF layers.
func TestActNormGradients(t *testing.T) {
	for _, d := range []int{1, 3} {
		a := ftActNorm(t, d)
		f := ftFlow(t, a)
		randomizeParams(f, 0.5, 2)
		checkFlowGrads(t, fmt.Sprintf("actnorm/D=%d", d), f, true, true)
		checkFlowGrads(t, fmt.Sprintf("inverted-actnorm/D=%d", d), ftFlow(t, Invert(a)), true, true)
	}
	d := 4
	glow := ftFlow(t,
		ftActNorm(t, d), ftLU(t, luConfig(d, 1)),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{6}, Activation: Tanh}),
		ftActNorm(t, d), ftLU(t, luConfig(d, 2)),
		ftCoupling(t, CouplingConfig{Mask: EvenOddMask(d, true), Hidden: []int{5}, Activation: ReLU, Func: Additive{}}),
		ftActNorm(t, d),
	)
	randomizeParams(glow, 0.4, 3)
	checkFlowGrads(t, "actnorm-lu-coupling", glow, true, true)
	maf := ftFlow(t,
		ftActNorm(t, d),
		ftMAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{6}, Activation: Tanh}),
		ftActNorm(t, d), ftLU(t, luConfig(d, 3)),
		ftMAF(t, AutoregressiveConfig{Dim: d, Hidden: []int{5}, Activation: ReLU, Order: ReversedOrder}),
	)
	randomizeParams(maf, 0.4, 4)
	checkFlowGrads(t, "actnorm-maf", maf, true, false)
}

func TestActNormParallelDeterminism(t *testing.T) {
	d := 3
	f := ftFlow(t,
		ftActNorm(t, d),
		ftCoupling(t, CouplingConfig{Mask: EvenOddMask(d, false), Hidden: []int{16}, Activation: Tanh, Seed: 1}),
		ftActNorm(t, d), ftLU(t, luConfig(d, 1)),
		ftCoupling(t, CouplingConfig{Mask: EvenOddMask(d, true), Hidden: []int{16}, Activation: Tanh, Seed: 2}),
	)
	randomizeParams(f, 0.2, 3)
	checkDeterminism(t, "actnorm/ml", f, false, 1, 2, 3, 8)
	checkDeterminism(t, "actnorm/kl", f, true, 1, 2, 3, 8)
}

func TestActNormAllocs(t *testing.T) {
	checkLayerAllocs(t, func(d int) []Layer {
		return []Layer{
			ftActNorm(t, d),
			ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{8}, Activation: ReLU}),
			Invert(ftActNorm(t, d)),
			ftActNorm(t, d),
		}
	})
}

// scaledRows returns n rows of D columns, column j drawn from
// N(j − 1, (j + 0.5)²), so that every column needs its own shift and scale.
func scaledRows(n, d int, seed uint64) *mat.Dense {
	x := mat.NewDense(n, d, randomRows(n, d, seed))
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			x.Set(i, j, float64(j)-1+(float64(j)+0.5)*x.At(i, j))
		}
	}
	return x
}

// actNormOutputs returns, for each ActNorm layer of f in order, the rows of
// x passed through Inverse down to and including it.
func actNormOutputs(t *testing.T, f *Flow, x mat.Matrix, c []float64) map[int][]float64 {
	t.Helper()
	n, d := x.Dims()
	cur := append([]float64(nil), rawRows(x)...)
	out := map[int][]float64{}
	for l := len(f.layers) - 1; l >= 0; l-- {
		next := make([]float64, n*d)
		f.layers[l].Inverse(next, cur, c, make([]float64, n), make([]float64, f.layers[l].WorkLen(n)))
		cur = next
		if _, ok := f.layers[l].(*ActNorm); ok {
			out[l] = cur
		}
	}
	return out
}

// checkUnitMoments requires every column of the n rows of width d to have
// mean 0 and variance 1 (divisor n), to rounding.
func checkUnitMoments(t *testing.T, name string, rows []float64, n, d int) {
	t.Helper()
	for j := 0; j < d; j++ {
		m, v := 0.0, 0.0
		for i := 0; i < n; i++ {
			m += rows[i*d+j]
		}
		m /= float64(n)
		for i := 0; i < n; i++ {
			v += (rows[i*d+j] - m) * (rows[i*d+j] - m)
		}
		v /= float64(n)
		if math.Abs(m) > 1e-13 || math.Abs(v-1) > 1e-13 {
			t.Errorf("%s: column %d has mean %.3g and variance %.15g, want 0 and 1", name, j, m, v)
		}
	}
}

// TestInitActNorm: every ActNorm layer not yet initialised, in the data →
// base order, gets the mean and standard deviation of its input, which
// leaves its output with zero mean and unit variance; layers already
// initialised, and the other layers, are left alone; a second call does
// nothing.
func TestInitActNorm(t *testing.T) {
	d := 3
	done := ftActNorm(t, d)
	f := ftFlow(t,
		ftActNorm(t, d),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(d, false), Hidden: []int{8}, Activation: Tanh}),
		done,
		ftLU(t, luConfig(d, 1)),
		Invert(ftActNorm(t, d)),
		ftActNorm(t, d),
		ftStd(t, []float64{1, 2, 3}, []float64{2, 1, 0.5}),
	)
	randomizeParams(f, 0.3, 5)
	done.initialized = true
	before := append([]float64(nil), f.Params()...)
	const n = 300 // more than a shard of evalShard rows
	x := scaledRows(n, d, 6)
	k, err := InitActNorm(f, x, nil)
	if err != nil || k != 2 {
		t.Fatalf("InitActNorm: %d, %v; want 2 layers", k, err)
	}
	for l, layer := range f.layers {
		lo, hi := f.ParamRange(l)
		a, ok := layer.(*ActNorm)
		changed := maxAbsDiff(f.Params()[lo:hi], before[lo:hi]) != 0
		switch {
		case ok && l != 2:
			if !a.Initialized() || !changed {
				t.Errorf("layer %d: ActNorm initialised %v, parameters changed %v", l, a.Initialized(), changed)
			}
		case changed:
			t.Errorf("layer %d (%T): parameters changed", l, layer)
		}
	}
	if v := f.layers[4].(*Inverted).L.(*ActNorm); v.Initialized() {
		t.Error("an inverted ActNorm was initialised")
	}
	for l, rows := range actNormOutputs(t, f, x, nil) {
		if l != 2 {
			checkUnitMoments(t, fmt.Sprintf("layer %d", l), rows, n, d)
		}
	}
	p := append([]float64(nil), f.Params()...)
	if k, err := InitActNorm(f, scaledRows(50, d, 7), nil); k != 0 || err != nil || maxAbsDiff(p, f.Params()) != 0 {
		t.Errorf("second InitActNorm: %d, %v, parameters changed %v", k, err, maxAbsDiff(p, f.Params()) != 0)
	}
}

// TestInitActNormContext: in a conditional flow the rows pass the
// conditional layers on the data side with their contexts.
func TestInitActNormContext(t *testing.T) {
	d, C := 2, 3
	f := ftFlow(t,
		ftActNorm(t, d),
		ftCoupling(t, CouplingConfig{Mask: HalfMask(d, true), Hidden: []int{6}, Activation: Tanh, ContextDim: C}),
	)
	randomizeParams(f, 0.5, 1)
	const n = 200
	x := scaledRows(n, d, 2)
	c := mat.NewDense(n, C, randomRows(n, C, 3))
	if k, err := InitActNorm(f, x, c); k != 1 || err != nil {
		t.Fatalf("InitActNorm: %d, %v", k, err)
	}
	checkUnitMoments(t, "conditional", actNormOutputs(t, f, x, rawRows(c))[0], n, d)
}

// TestInitActNormRejects: data problems are errors that change nothing,
// also when an error comes after a layer was initialised.
func TestInitActNormRejects(t *testing.T) {
	d := 2
	first := ftActNorm(t, d)
	// A coupling whose inverse scale overflows: the ActNorm below it sees
	// ±Inf after the one above it (on the data side) was initialised.
	c := ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Activation: Tanh})
	f := ftFlow(t, ftActNorm(t, d), c, first)
	lo, _ := f.ParamRange(1)
	f.Params()[lo+2] = -800 // the bias of s: z_B = (x_B − t)·exp(800)
	p0 := append([]float64(nil), f.Params()...)
	good := scaledRows(10, d, 1)
	constant := mat.DenseCopyOf(good)
	for i := 0; i < 10; i++ {
		constant.Set(i, 1, 4)
	}
	nan := mat.DenseCopyOf(good)
	nan.Set(3, 1, math.NaN())
	for _, tc := range []struct {
		name string
		x, c mat.Matrix
		want string
	}{
		{"overflow below", good, nil, "flow: InitActNorm: layer 0 (ActNorm), initialised on the rows of x: column 1 of its input has mean"},
		{"constant", constant, nil, "layer 2 (ActNorm), initialised on the rows of x: column 1 of its input has mean 4 and standard deviation 0 over 10 rows"},
		{"one row", mat.NewDense(1, d, []float64{1, 2}), nil, "at least 2 rows to measure a spread, the rows of x has 1"},
		{"columns", mat.NewDense(3, 3, nil), nil, "x has 3 columns, the flow 2 dimensions"},
		{"NaN", nan, nil, "x row 3, column 1 is NaN"},
		{"context", good, mat.NewDense(10, 1, nil), "c is set, but the flow has no context"},
	} {
		k, err := InitActNorm(f, tc.x, tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %d, %v; want an error containing %q", tc.name, k, err, tc.want)
		}
		if maxAbsDiff(p0, f.Params()) != 0 || first.Initialized() {
			t.Errorf("%s: the failed initialisation changed the flow", tc.name)
		}
	}
	g := ftFlow(t, ftActNorm(t, d), ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, ContextDim: 2}))
	cnan := mat.NewDense(10, 2, nil)
	cnan.Set(2, 0, math.Inf(1))
	for _, tc := range []struct {
		c    mat.Matrix
		want string
	}{
		{nil, "the flow is conditional (C = 2), but c is nil"},
		{mat.NewDense(9, 2, nil), "c is 9×2, want 10×2"},
		{cnan, "context row 2, column 0 is +Inf"},
	} {
		if _, err := InitActNorm(g, good, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("conditional: %v; want an error containing %q", err, tc.want)
		}
	}
}

// TestFitInitActNorm: Fit initialises ActNorm layers on the first
// minibatch of its shuffled order, before scoring the untrained flow; the
// same flow initialised by hand on those rows has the initial validation
// loss bit for bit.
func TestFitInitActNorm(t *testing.T) {
	build := func() *Flow {
		f, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Activation: Tanh, Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		ls := f.Layers()
		return ftFlow(t, ftActNorm(t, 2), ls[0], ftLU(t, LUConfig{Dim: 2}), ftActNorm(t, 2), ls[1], ftActNorm(t, 2))
	}
	const n, bs, seed = 400, 64, 9
	data := scaledRows(n, 2, 8)
	valid := scaledRows(50, 2, 10)
	f := build()
	res, err := Fit(f, data, TrainConfig{Epochs: 2, BatchSize: bs, LearningRate: 1e-3, Validation: valid, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range f.layers {
		if a, ok := l.(*ActNorm); ok && !a.Initialized() {
			t.Errorf("layer %d: not initialised after Fit", i)
		}
	}
	// Fit's first minibatch: its generator draws the split (nothing held
	// out here) and then the first epoch's shuffle.
	rnd := rand.New(rand.NewPCG(seed, 0xda3e39cb94b95bdb))
	idx := rnd.Perm(n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rnd.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	first := mat.NewDense(bs, 2, nil)
	for i, k := range order[:bs] {
		first.SetRow(i, data.RawRowView(idx[k]))
	}
	g := build()
	if k, err := InitActNorm(g, first, nil); k != 3 || err != nil {
		t.Fatalf("InitActNorm: %d, %v", k, err)
	}
	want := -meanOf(g.LogProb(nil, valid))
	if math.Float64bits(res.InitialLoss) != math.Float64bits(want) {
		t.Errorf("Fit's initial validation loss %v, the flow initialised on its first minibatch %v", res.InitialLoss, want)
	}
	untrained := -meanOf(build().LogProb(nil, valid))
	if res.InitialLoss == untrained {
		t.Error("the initial loss is that of the flow without initialisation")
	}
	// Initialised layers are not initialised again.
	p := append([]float64(nil), g.Params()...)
	if _, err := Fit(g, data, TrainConfig{Epochs: 1, BatchSize: bs, LearningRate: 1e-300, Validation: valid, Seed: seed + 1}); err != nil {
		t.Fatal(err)
	}
	if e := maxAbsDiff(p, g.Params()); e > 1e-200 {
		t.Errorf("a second Fit moved the initialised parameters by %g", e)
	}
}

// TestFitInitActNormFails: a first minibatch with a constant column is an
// error before training, with no Result and the flow unchanged.
func TestFitInitActNormFails(t *testing.T) {
	a := ftActNorm(t, 2)
	f := ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Hidden: []int{4}}), a)
	p := append([]float64(nil), f.Params()...)
	data := mat.NewDense(100, 2, randomRows(100, 2, 1))
	for i := 0; i < 100; i++ {
		data.Set(i, 0, 3)
	}
	res, err := Fit(f, data, TrainConfig{Epochs: 1, BatchSize: 32})
	if res != nil || err == nil || !strings.Contains(err.Error(), "flow: Fit: layer 1 (ActNorm), initialised on the first minibatch: column 0 of its input has mean 3 and standard deviation 0 over 32 rows") {
		t.Errorf("Fit: %v, %v", res, err)
	}
	if maxAbsDiff(p, f.Params()) != 0 || a.Initialized() {
		t.Error("the failed Fit changed the flow")
	}
}

// TestFitReverseKLActNorm: reverse-KL training marks ActNorm layers
// initialised, so that a later Fit keeps what it learned.
func TestFitReverseKLActNorm(t *testing.T) {
	a := ftActNorm(t, 2)
	f := ftFlow(t, a, ftCoupling(t, CouplingConfig{Mask: []bool{true, false}, Hidden: []int{4}}))
	if _, err := FitReverseKL(context.Background(), f, banana, TrainConfig{Epochs: 1, StepsPerEpoch: 3, BatchSize: 16, LearningRate: 1e-2}); err != nil {
		t.Fatal(err)
	}
	if !a.Initialized() {
		t.Error("FitReverseKL left the ActNorm layer uninitialised")
	}
	if maxAbsDiff(a.LogScale(), []float64{0, 0}) == 0 {
		t.Error("FitReverseKL did not train the ActNorm layer")
	}
}
