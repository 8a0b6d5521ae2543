// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// benchPreset is one of the model presets of docs/design.md §3.
type benchPreset struct {
	name  string
	batch int
	// reverseKL presets train through Forward (IAF); the others by
	// maximum likelihood through Inverse.
	reverseKL bool
	// context is the width C of the rows' contexts of a conditional
	// preset (0: none); the contexts are standard normal rows.
	context int
	// dropout is the dropout probability of a maximum-likelihood preset's
	// training step (0: none); such a preset runs in TrainStep alone.
	dropout float64
	build   func() (*Flow, error)
}

// benchPresets is filled by init functions, one per family of models.
var benchPresets []benchPreset

func init() {
	benchPresets = append(benchPresets,
		benchPreset{name: "realnvp-tiny", batch: 256, build: func() (*Flow, error) {
			return NewRealNVP(RealNVPConfig{Dim: 2, Layers: 8, Hidden: []int{64, 64}, Activation: ReLU, Seed: 1})
		}},
		// realnvp-small sits between tiny and large: D = 8, 8 couplings,
		// conditioner 2×128, batch 256.
		benchPreset{name: "realnvp-small", batch: 256, build: func() (*Flow, error) {
			return NewRealNVP(RealNVPConfig{Dim: 8, Layers: 8, Hidden: []int{128, 128}, Activation: ReLU, Seed: 1})
		}},
		benchPreset{name: "realnvp-large", batch: 512, build: func() (*Flow, error) {
			return NewRealNVP(RealNVPConfig{Dim: 43, Layers: 10, Hidden: []int{512, 512}, Activation: ReLU, Seed: 1})
		}},
		// nsf-c is realnvp-large with rational-quadratic spline couplings
		// (K = 8 bins on [−3, 3]), each after a fixed random permutation:
		// its conditioners' last layers have 3K − 1 = 23 outputs per
		// transformed dimension where realnvp-large's have 2.
		benchPreset{name: "nsf-c", batch: 512, build: presetNSFC},
	)
}

// presetNSFC builds nsf-c: 10 spline coupling layers on alternating halves,
// each after a fixed random permutation.
func presetNSFC() (*Flow, error) {
	return NewNSF(NSFConfig{Dim: 43, Layers: 10, Hidden: []int{512, 512}, Activation: ReLU, Bins: 8, Bound: 3, Seed: 1})
}

func sortedPresets() []benchPreset {
	p := append([]benchPreset(nil), benchPresets...)
	sort.Slice(p, func(i, j int) bool { return p[i].name < p[j].name })
	return p
}

// denseCoster is a layer whose cost is counted by the dense model of
// docs/design.md §3: Σ in·out over its dense layers. MADE's masked layers
// count as dense, as the model says, although their zero tiles are skipped.
type denseCoster interface{ denseCost() int }

func flowDenseCost(f *Flow) int {
	c := 0
	for _, l := range f.layers {
		if dc, ok := l.(denseCoster); ok {
			c += dc.denseCost()
		}
		if v, ok := l.(*Inverted); ok {
			if dc, ok := v.L.(denseCoster); ok {
				c += dc.denseCost()
			}
		}
	}
	return c
}

// presetFlow builds a preset with small random parameters, so that no layer
// is the identity, a batch of inputs and, for a conditional preset, their
// contexts (nil otherwise).
func presetFlow(b *testing.B, p benchPreset) (*Flow, *mat.Dense, mat.Matrix) {
	f, err := p.build()
	if err != nil {
		b.Fatal(err)
	}
	if f.ContextDim() != p.context {
		b.Fatalf("%s: the flow has context dimension %d, the preset %d", p.name, f.ContextDim(), p.context)
	}
	randomizeParams(f, 0.02, 1)
	x := mat.NewDense(p.batch, f.Dim(), randomRows(p.batch, f.Dim(), 2))
	if p.context == 0 {
		return f, x, nil
	}
	return f, x, mat.NewDense(p.batch, p.context, randomRows(p.batch, p.context, 3))
}

// flowMaskedCost is flowDenseCost counting only a MADE's unmasked weights
// (maskedCost), and 0 for a flow without masked layers.
func flowMaskedCost(f *Flow) int {
	type maskedCoster interface{ maskedCost() int }
	c, masked := 0, false
	for _, l := range f.layers {
		if v, ok := l.(*Inverted); ok {
			l = v.L
		}
		if mc, ok := l.(maskedCoster); ok {
			c += mc.maskedCost()
			masked = true
		} else if dc, ok := l.(denseCoster); ok {
			c += dc.denseCost()
		}
	}
	if !masked {
		return 0
	}
	return c
}

// report reports samples/s and GFLOP/s of b's run over rows rows an
// operation of flops flops by the dense cost model, and that speed as a
// percentage of the machine's peak on GOMAXPROCS cores (%peak, see
// machinePeak); for a flow with masked layers also the percentage that
// counts only the unmasked arithmetic, masked/dense of the flops
// (%peak-unmasked).
func report(b *testing.B, rows int, flops float64, f *Flow) {
	s := b.Elapsed().Seconds()
	b.StopTimer()
	if t, ok := processCPU(); ok {
		cpuMarks.Lock()
		t0, marked := cpuMarks.at[b]
		delete(cpuMarks.at, b)
		cpuMarks.Unlock()
		if marked {
			b.ReportMetric(1e3*(t-t0)/float64(b.N), "cpu-ms/op")
		}
	}
	gflops := flops * float64(b.N) / s / 1e9
	b.ReportMetric(float64(rows)*float64(b.N)/s, "samples/s")
	b.ReportMetric(gflops, "GFLOP/s")
	peak := machinePeak(runtime.GOMAXPROCS(0))
	b.ReportMetric(100*gflops/peak, "%peak")
	if mc := flowMaskedCost(f); mc > 0 {
		b.ReportMetric(100*gflops*float64(mc)/float64(flowDenseCost(f))/peak, "%peak-unmasked")
	}
}

// cpuMarks holds the process's CPU time when each running benchmark's
// timer was reset.
var cpuMarks struct {
	sync.Mutex
	at map[*testing.B]float64
}

// resetTimer resets b's timer and notes the process's CPU time, so that
// report adds the CPU time per operation, all cores together (cpu-ms/op).
// Where other processes share the machine's cores, a benchmark's wall
// time grows with their load while its CPU time changes far less: it is
// the steadier measure for comparing two builds on a busy machine.
func resetTimer(b *testing.B) {
	if t, ok := processCPU(); ok {
		cpuMarks.Lock()
		if cpuMarks.at == nil {
			cpuMarks.at = map[*testing.B]float64{}
		}
		cpuMarks.at[b] = t
		cpuMarks.Unlock()
	}
	b.ResetTimer()
}

var peaks struct {
	sync.Mutex
	gflops map[int]float64
}

// machinePeak returns the machine's peak GFLOP/s on procs cores
// (BenchmarkKernelPeak's loop, measured once per test binary and procs).
func machinePeak(procs int) float64 {
	peaks.Lock()
	defer peaks.Unlock()
	if p, ok := peaks.gflops[procs]; ok {
		return p
	}
	if peaks.gflops == nil {
		peaks.gflops = map[int]float64{}
	}
	p := measurePeak(procs, 100*time.Millisecond) / 1e9
	peaks.gflops[procs] = p
	return p
}

// BenchmarkTrainStep measures one optimisation step (loss, gradient, Adam)
// on a preset's minibatch. GFLOP/s counts 6·n·Σ in·out per step.
func BenchmarkTrainStep(b *testing.B) {
	for _, p := range sortedPresets() {
		b.Run(p.name, func(b *testing.B) {
			f, x, c := presetFlow(b, p)
			grad := make([]float64, f.NumParams())
			opt := NewAdam(1e-4)
			var step func()
			switch {
			case p.reverseKL && c != nil:
				obj := NewReverseKLGiven(f, func(g, x, _ []float64) float64 { return StdNormalLogProb(x) + 0*copyNeg(g, x) }, 0, 0)
				step = func() { obj.LossGradGiven(grad, x, c) }
			case p.reverseKL:
				obj := NewReverseKL(f, func(g, x []float64) float64 { return StdNormalLogProb(x) + 0*copyNeg(g, x) }, 0, 0)
				step = func() { obj.LossGrad(grad, x) }
			default:
				obj := NewMaxLikelihood(f, 0, 0)
				obj.SetDropout(p.dropout, 1)
				step = func() { obj.LossGradGiven(grad, x, c) }
			}
			step()
			opt.Step(f.Params(), grad)
			b.ReportAllocs()
			resetTimer(b)
			for i := 0; i < b.N; i++ {
				step()
				opt.Step(f.Params(), grad)
			}
			report(b, p.batch, 6*float64(p.batch)*float64(flowDenseCost(f)), f)
		})
	}
}

// copyNeg writes −x into g (the gradient of a standard normal target) and
// returns 0.
func copyNeg(g, x []float64) float64 {
	StdNormalGrad(g, x)
	return 0
}

// BenchmarkLogProb measures log p(x) of a preset's batch. GFLOP/s counts
// 2·n·Σ in·out.
func BenchmarkLogProb(b *testing.B) {
	for _, p := range sortedPresets() {
		if p.dropout > 0 {
			continue // evaluation has no dropout: the preset without it
		}
		b.Run(p.name, func(b *testing.B) {
			f, x, c := presetFlow(b, p)
			dst := make([]float64, p.batch)
			logProb := func() { f.LogProbGiven(dst, x, c) }
			logProb()
			b.ReportAllocs()
			resetTimer(b)
			for i := 0; i < b.N; i++ {
				logProb()
			}
			report(b, p.batch, 2*float64(p.batch)*float64(flowDenseCost(f)), f)
		})
	}
}

// BenchmarkSample measures drawing a preset's batch of samples with their
// log-densities. GFLOP/s counts 2·n·Σ in·out, as for one pass, also for
// MAF's sequential sampling (whose D position passes together compute each
// hidden unit once, about one pass of arithmetic in D small steps).
func BenchmarkSample(b *testing.B) {
	for _, p := range sortedPresets() {
		if p.dropout > 0 {
			continue // evaluation has no dropout: the preset without it
		}
		b.Run(p.name, func(b *testing.B) {
			f, x, c := presetFlow(b, p)
			logq := make([]float64, p.batch)
			rnd := rand.New(rand.NewPCG(1, 1))
			sample := func() { f.SampleGiven(x, logq, c, rnd) }
			sample()
			b.ReportAllocs()
			resetTimer(b)
			for i := 0; i < b.N; i++ {
				sample()
			}
			report(b, p.batch, 2*float64(p.batch)*float64(flowDenseCost(f)), f)
		})
	}
}

// TestNSFPresetCost checks that the dense cost model counts nsf-c's
// conditioner products and nothing else: 10 conditioners of |A|→512→512→
// 23·|B| with (|A|, |B|) alternating (22, 21) and (21, 22), the
// permutations and the spline arithmetic free.
func TestNSFPresetCost(t *testing.T) {
	f, err := presetNSFC()
	if err != nil {
		t.Fatal(err)
	}
	want := 10*512*512 + 5*512*(22+21) + 5*512*23*(21+22)
	if got := flowDenseCost(f); got != want {
		t.Errorf("dense cost %d, want %d", got, want)
	}
	if n := len(f.Layers()); n != 20 {
		t.Errorf("%d layers, want 10 permutations and 10 couplings", n)
	}
}

// BenchmarkAdam measures one Adam step over 2²⁰ parameters on the pool
// (all cores), with the bytes it reads and writes per second: the
// parameters, the gradient and the two moments read, three of them
// written.
func BenchmarkAdam(b *testing.B) {
	const n = 1 << 20
	p, g := randomRows(n, 1, 1), randomRows(n, 1, 2)
	a := NewAdam(1e-3)
	a.Step(p, g)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Step(p, g)
	}
	b.ReportMetric(7*8*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
