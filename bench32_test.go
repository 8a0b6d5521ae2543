// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"runtime"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// report32 is report for a float32 benchmark: %peak32 is against the
// float32 peak, twice the measured float64 peak (the same FMA
// instructions with 8 lanes instead of 4 on AVX2, 4 instead of 2 on NEON;
// the float32 micro-kernel alone reaches 108 GFLOP/s where the float64
// one reaches 54, BenchmarkKernelMicro32).
func report32(b *testing.B, rows int, flops float64, f *Flow) {
	report(b, rows, flops, f)
	s := b.Elapsed().Seconds()
	gflops := flops * float64(b.N) / s / 1e9
	peak := 2 * machinePeak(runtime.GOMAXPROCS(0))
	b.ReportMetric(100*gflops/peak, "%peak32")
	if mc := flowMaskedCost(f); mc > 0 {
		b.ReportMetric(100*gflops*float64(mc)/float64(flowDenseCost(f))/peak, "%peak32-unmasked")
	}
}

// presets32 returns the maximum-likelihood presets whose flows have a
// float32 path (Flow.Float32), each with its float32 copy.
func presets32(b *testing.B, fn func(b *testing.B, p benchPreset, f *Flow, g *Flow32, x *mat.Dense, c mat.Matrix)) {
	for _, p := range sortedPresets() {
		if p.reverseKL || p.dropout > 0 {
			continue
		}
		f, err := p.build()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Float32(); err != nil {
			continue // no float32 path: the preset runs in float64 alone
		}
		b.Run(p.name, func(b *testing.B) {
			f, x, c := presetFlow(b, p)
			g, err := f.Float32()
			if err != nil {
				b.Fatal(err)
			}
			fn(b, p, f, g, x, c)
		})
	}
}

// BenchmarkTrainStep32 is BenchmarkTrainStep in float32: MaxLikelihood32
// and Adam32 on a preset's minibatch, for the presets with a float32 path.
// Its samples/s against BenchmarkTrainStep's, in the same run, is the
// float32 speed-up.
func BenchmarkTrainStep32(b *testing.B) {
	presets32(b, func(b *testing.B, p benchPreset, f *Flow, g *Flow32, x *mat.Dense, c mat.Matrix) {
		grad := make([]float32, g.NumParams())
		obj := NewMaxLikelihood32(g, 0, 0)
		opt := NewAdam32(1e-4)
		obj.LossGradGiven(grad, x, c)
		opt.Step(g.Params(), grad)
		b.ReportAllocs()
		resetTimer(b)
		for i := 0; i < b.N; i++ {
			obj.LossGradGiven(grad, x, c)
			opt.Step(g.Params(), grad)
		}
		report32(b, p.batch, 6*float64(p.batch)*float64(flowDenseCost(f)), f)
	})
}

// BenchmarkLogProb32 is BenchmarkLogProb in float32.
func BenchmarkLogProb32(b *testing.B) {
	presets32(b, func(b *testing.B, p benchPreset, f *Flow, g *Flow32, x *mat.Dense, c mat.Matrix) {
		dst := make([]float64, p.batch)
		g.LogProbGiven(dst, x, c)
		b.ReportAllocs()
		resetTimer(b)
		for i := 0; i < b.N; i++ {
			g.LogProbGiven(dst, x, c)
		}
		report32(b, p.batch, 2*float64(p.batch)*float64(flowDenseCost(f)), f)
	})
}
