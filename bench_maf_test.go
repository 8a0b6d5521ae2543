// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "testing"

// The MAF and IAF presets of docs/design.md §3, ReLU throughout. Each returns
// the flow, with the initial parameters its constructor gives, and the
// preset's batch size.

const (
	mafSmallBatch = 256
	mafLargeBatch = 512
	iafLargeBatch = 512
	nsfARBatch    = 512
)

// presetMAFSmall is maf-small: MAF, D 8, MADE 2×256, 5 layers with the
// order reversed between layers, batch 256.
func presetMAFSmall() (*Flow, int) {
	return mustFlow(NewMAFFlow(AutoregressiveFlowConfig{Dim: 8, Layers: 5, Hidden: []int{256, 256}, Activation: ReLU, Seed: 1})), mafSmallBatch
}

// presetMAFLarge is maf-large: MAF, D 43, MADE 2×512, 5 layers (orders
// alternating natural and reversed), batch 512.
func presetMAFLarge() (*Flow, int) {
	return mustFlow(NewMAFFlow(AutoregressiveFlowConfig{Dim: 43, Layers: 5, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1})), mafLargeBatch
}

// presetMAFLargeC16 is maf-large-c16: maf-large conditioned on a context of
// C = 16 inputs (the first layer of every MADE has 43+16 inputs).
func presetMAFLargeC16() (*Flow, int) {
	return mustFlow(NewMAFFlow(AutoregressiveFlowConfig{Dim: 43, Layers: 5, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1, ContextDim: 16})), mafLargeBatch
}

// presetIAFLarge is iaf-large: IAF, D 43, MADE 2×512, 5 layers (orders
// alternating natural and reversed), batch 512. It trains by reverse KL.
func presetIAFLarge() (*Flow, int) {
	return mustFlow(NewIAFFlow(AutoregressiveFlowConfig{Dim: 43, Layers: 5, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1})), iafLargeBatch
}

// presetNSFAR is nsf-ar: maf-large with rational-quadratic spline layers
// (K = 8 bins on [−3, 3], the default minimums): MAF-style, D 43, MADE
// 2×512 with 3K − 1 = 23 outputs per dimension where maf-large's has 2, 5
// layers (orders alternating natural and reversed), batch 512.
func presetNSFAR() (*Flow, int) {
	s := RQSpline{Bins: 8, Bound: 3, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	return mustFlow(NewMAFFlow(AutoregressiveFlowConfig{Dim: 43, Layers: 5, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1, Spline: &s})), nsfARBatch
}

// presetMAFLargeBN is maf-large-bn: maf-large with a BatchNorm layer after
// every MAF layer in the flow's order, on its data side, as nflow fit
// -model maf -batchnorm builds it (the MAF paper's "MAF with BatchNorm"):
// 10 layers, trained in stages split at the BatchNorm layers (§5.3).
func presetMAFLargeBN() (*Flow, int) {
	f, _ := presetMAFLarge()
	var layers []Layer
	for _, l := range f.Layers() {
		layers = append(layers, l, mustBN(NewBatchNorm(43, 0)))
	}
	return mustFlow(New(layers...)), mafLargeBatch
}

func mustBN(b *BatchNorm, err error) *BatchNorm {
	if err != nil {
		panic(err)
	}
	return b
}

func mustFlow(f *Flow, err error) *Flow {
	if err != nil {
		panic(err)
	}
	return f
}

func init() {
	build := func(fn func() (*Flow, int)) func() (*Flow, error) {
		return func() (*Flow, error) { f, _ := fn(); return f, nil }
	}
	benchPresets = append(benchPresets,
		benchPreset{name: "maf-small", batch: mafSmallBatch, build: build(presetMAFSmall)},
		benchPreset{name: "maf-large", batch: mafLargeBatch, build: build(presetMAFLarge)},
		benchPreset{name: "maf-large-c16", batch: mafLargeBatch, context: 16, build: build(presetMAFLargeC16)},
		benchPreset{name: "maf-large-bn", batch: mafLargeBatch, build: build(presetMAFLargeBN)},
		benchPreset{name: "iaf-large", batch: iafLargeBatch, reverseKL: true, build: build(presetIAFLarge)},
		benchPreset{name: "nsf-ar", batch: nsfARBatch, build: build(presetNSFAR)},
	)
}

// TestNSFARPreset checks nsf-ar: 5 spline MAF layers of K = 8 on [−3, 3]
// with orders alternating natural and reversed, and a dense cost model that
// counts the MADE products alone: 43→512→512→23·43 per layer.
func TestNSFARPreset(t *testing.T) {
	f, _ := presetNSFAR()
	want := 5 * (43*512 + 512*512 + 512*23*43)
	if got := flowDenseCost(f); got != want {
		t.Errorf("dense cost %d, want %d", got, want)
	}
	ls := f.Layers()
	if len(ls) != 5 {
		t.Fatalf("%d layers, want 5", len(ls))
	}
	for i, l := range ls {
		m, ok := l.(*MAF)
		if !ok {
			t.Fatalf("layer %d is %T, want *MAF", i, l)
		}
		if s := m.Spline(); s == nil || s.Bins != 8 || s.Bound != 3 {
			t.Errorf("layer %d: spline %v, want K = 8 on [−3, 3]", i, s)
		}
		first := 0
		if i%2 == 1 {
			first = 42
		}
		if o := m.MADE().Order(); o[0] != first {
			t.Errorf("layer %d: order starts with %d, want %d", i, o[0], first)
		}
	}
}

// BenchmarkSequential compares, on one goroutine over 64 rows, the
// sequential direction of the maf-large and iaf-large layers (MAF sampling,
// IAF log-density) as computed (each hidden unit once over the D positions)
// with the naive D full MADE passes, and with the one-pass direction.
func BenchmarkSequential(b *testing.B) {
	const n = 64
	for _, p := range []struct {
		name string
		fn   func() (*Flow, int)
	}{{"maf-large", presetMAFLarge}, {"iaf-large", presetIAFLarge}} {
		f, _ := p.fn()
		randomizeParams(f, 0.02, 1)
		d := f.Dim()
		for _, mode := range []string{"one-pass", "sequential", "naive"} {
			b.Run(p.name+"/"+mode, func(b *testing.B) {
				src := randomRows(n, d, 2)
				dst := make([]float64, n*d)
				ld := make([]float64, n)
				var work []float64
				for _, l := range f.layers {
					work = make([]float64, max(len(work), l.WorkLen(n)))
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for _, l := range f.layers {
						var a *arLayer
						switch l := l.(type) {
						case *MAF:
							a = &l.arLayer
						case *IAF:
							a = &l.arLayer
						}
						_, iaf := l.(*IAF)
						switch mode {
						case "one-pass":
							a.onePass(dst, src, nil, ld, work, iaf, dropout{})
						case "sequential":
							a.sequential(dst, src, nil, ld, work, !iaf)
						case "naive":
							a.sequentialNaive(dst, src, nil, ld, work, !iaf)
						}
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

// BenchmarkSplineAR measures the spline arithmetic of one nsf-ar layer
// alone, on one goroutine over a shard of 128 rows: the element-wise part
// of the training direction (MAF Inverse, RQS⁻¹ at 43 positions of each
// row from its 43·23 MADE outputs) and of its backward pass, without the
// MADE's products. The MADE's outputs are those of parameters drawn at
// scale 0.3, so that the splines are far from the identity.
func BenchmarkSplineAR(b *testing.B) {
	const n = 128
	f, _ := presetNSFAR()
	randomizeParams(f, 0.3, 1)
	a := &f.layers[0].(*MAF).arLayer
	d := f.Dim()
	src := randomRows(n, d, 2)
	dst := make([]float64, n*d)
	ld := make([]float64, n)
	work := make([]float64, a.WorkLen(n))
	a.onePass(dst, src, nil, ld, work, false, dropout{})
	w := a.split(work, n)
	o := a.made.output(w.mw, n)
	dOut, dIn, dld := randomRows(n, d, 3), make([]float64, n*d), randomRows(n, 1, 4)
	for _, mode := range []string{"pass", "backward"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if mode == "pass" {
					clear(ld)
					a.splinePass(w, o, ld, false)
				} else {
					a.splinePassBackward(w, o, dIn, dOut, dld, false)
				}
			}
			b.ReportMetric(float64(n*d)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpoints/s")
		})
	}
}

// TestMAFBNPreset checks maf-large-bn: maf-large's five MAF layers, each
// followed by a BatchNorm layer, and maf-large's dense cost (the
// BatchNorm layers free).
func TestMAFBNPreset(t *testing.T) {
	f, _ := presetMAFLargeBN()
	g, _ := presetMAFLarge()
	if got, want := flowDenseCost(f), flowDenseCost(g); got != want {
		t.Errorf("dense cost %d, want %d", got, want)
	}
	for i, l := range f.Layers() {
		_, bn := l.(*BatchNorm)
		if bn != (i%2 == 1) || len(f.Layers()) != 10 {
			t.Fatalf("layer %d of %d is %T", i, len(f.Layers()), l)
		}
	}
}
