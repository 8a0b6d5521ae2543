// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Kernel benchmarks. Each dense product reports GFLOP/s counting 2·n·in·out
// flops a call (forward, and each of the two backward products), beside
// gonum's blas64.Gemm computing the same product on the same shape. The
// "1core" variants run one call on the calling goroutine; the "pool"
// variants split the rows of the batch over GOMAXPROCS goroutines, each
// calling the kernel on its share, as the package's pool does with shards.
//
//	go test -run XXX -bench Kernel -count 6 | benchstat -

var kernBenchShapes = []denseShape{
	{512, 43, 512},
	{512, 512, 512},
	{512, 512, 86},
	{256, 512, 512},
}

func kernBenchName(sh denseShape) string { return fmt.Sprintf("%dx%dx%d", sh.n, sh.in, sh.out) }

func kernRandSlice(rnd *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*rnd.Float64() - 1
	}
	return s
}

// kernSplitRows runs f on the row ranges [lo, hi) of n rows split over
// GOMAXPROCS goroutines, or on all of them at once when par is false.
func kernSplitRows(n int, par bool, f func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if !par || p == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for g := 0; g < p; g++ {
		lo, hi := g*n/p, (g+1)*n/p
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

type denseBench struct {
	name string
	run  func(lo, hi int)
}

// denseBenches returns the kernels to benchmark on one shape. The backward
// weight products of the pool variant give each goroutine its own dW and db,
// as the pool does (the reduction is not timed).
func denseBenches(sh denseShape, lim []int, par bool) []denseBench {
	n, in, out := sh.n, sh.in, sh.out
	rnd := rand.New(rand.NewPCG(7, 8))
	x, w, b := kernRandSlice(rnd, n*in), kernRandSlice(rnd, out*in), kernRandSlice(rnd, out)
	y, dy, dx := make([]float64, n*out), kernRandSlice(rnd, n*out), make([]float64, n*in)
	p := runtime.GOMAXPROCS(0)
	dws := make([][]float64, p)
	dbs := make([][]float64, p)
	for i := range dws {
		dws[i] = make([]float64, out*in)
		dbs[i] = make([]float64, out)
	}
	who := func(lo int) int {
		if !par {
			return 0
		}
		return lo * p / n
	}
	bs := []denseBench{
		{"Forward", func(lo, hi int) {
			denseForward(y[lo*out:hi*out], x[lo*in:hi*in], w, b, hi-lo, in, out)
		}},
		{"BackwardX", func(lo, hi int) {
			denseBackwardX(dx[lo*in:hi*in], dy[lo*out:hi*out], w, hi-lo, in, out)
		}},
		{"BackwardW", func(lo, hi int) {
			g := who(lo)
			denseBackwardW(dws[g], dbs[g], dy[lo*out:hi*out], x[lo*in:hi*in], hi-lo, in, out)
		}},
	}
	if lim != nil {
		bs = []denseBench{
			{"Forward", func(lo, hi int) {
				maskedForward(y[lo*out:hi*out], x[lo*in:hi*in], w, b, lim, hi-lo, in, out)
			}},
			{"BackwardX", func(lo, hi int) {
				maskedBackwardX(dx[lo*in:hi*in], dy[lo*out:hi*out], w, lim, hi-lo, in, out)
			}},
			{"BackwardW", func(lo, hi int) {
				g := who(lo)
				maskedBackwardW(dws[g], dbs[g], dy[lo*out:hi*out], x[lo*in:hi*in], lim, hi-lo, in, out)
			}},
		}
	}
	return bs
}

func kernReportGFLOPS(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// kernBenchRun runs the products that benches returns for each benchmark
// shape, on one core and across the pool, named product/shape/where; each
// run computes the given number of products of 2·n·in·out flops.
func kernBenchRun(b *testing.B, products int, benches func(sh denseShape, par bool) []denseBench) {
	for _, par := range []bool{false, true} {
		where := "1core"
		if par {
			where = "pool"
		}
		for _, sh := range kernBenchShapes {
			for _, k := range benches(sh, par) {
				b.Run(fmt.Sprintf("%s/%s/%s", k.name, kernBenchName(sh), where), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						kernSplitRows(sh.n, par, k.run)
					}
					kernReportGFLOPS(b, float64(products)*2*float64(sh.n*sh.in*sh.out))
				})
			}
		}
	}
}

func BenchmarkKernelDense(b *testing.B) {
	kernBenchRun(b, 1, func(sh denseShape, par bool) []denseBench { return denseBenches(sh, nil, par) })
}

// kernSmallShapes are the products of one 128-row shard (DefaultShardSize)
// of the realnvp-tiny and realnvp-small presets' conditioners: in → hidden,
// hidden → hidden, hidden → 2·(D/2) outputs.
var kernSmallShapes = []denseShape{
	{128, 1, 64}, {128, 64, 64}, {128, 64, 2},
	{128, 4, 128}, {128, 128, 128}, {128, 128, 8},
}

// BenchmarkKernelSmall runs the dense products on one core on the shapes of
// the small presets' shards (kernSmallShapes), where edge tiles and narrow
// operands weigh most.
func BenchmarkKernelSmall(b *testing.B) {
	for _, sh := range kernSmallShapes {
		for _, k := range denseBenches(sh, nil, false) {
			b.Run(fmt.Sprintf("%s/%s", k.name, kernBenchName(sh)), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					k.run(0, sh.n)
				}
				kernReportGFLOPS(b, 2*float64(sh.n*sh.in*sh.out))
			})
		}
	}
}

// kernMADELim is the mask of MADE's hidden-to-hidden layer with units sorted by
// degree: out units of degrees in [1, d−1] (sequential degrees, sorted),
// unit k seeing the in inputs of degree ≤ its own.
func kernMADELim(in, out, d int) []int {
	deg := func(k, units int) int { return k*(d-1)/units + 1 }
	lim := make([]int, out)
	for k := range lim {
		dk := deg(k, out)
		for j := 0; j < in; j++ {
			if deg(j, in) <= dk {
				lim[k] = j + 1
			}
		}
	}
	return lim
}

// BenchmarkKernelMasked runs the masked kernels on the benchmark shapes with the
// staircase of a MADE with D = 43 (about half the weights masked); compare
// with BenchmarkKernelDense on the same shape. GFLOP/s counts the dense flops, so
// that the ratio of the two is the speed-up.
func BenchmarkKernelMasked(b *testing.B) {
	kernBenchRun(b, 1, func(sh denseShape, par bool) []denseBench {
		return denseBenches(sh, kernMADELim(sh.in, sh.out, 43), par)
	})
}

// BenchmarkKernelLayer runs the three products of a layer's training step
// (forward, backward to the input, backward to the weights) one after the
// other, dense and with the MADE staircase of BenchmarkKernelMasked:
// "masked ÷ dense" of a whole layer. GFLOP/s counts 6·n·in·out dense flops
// a step.
func BenchmarkKernelLayer(b *testing.B) {
	kernBenchRun(b, 3, func(sh denseShape, par bool) []denseBench {
		var bs []denseBench
		for _, masked := range []bool{false, true} {
			name, lim := "Dense", []int(nil)
			if masked {
				name, lim = "Masked", kernMADELim(sh.in, sh.out, 43)
			}
			ps := denseBenches(sh, lim, par)
			bs = append(bs, denseBench{name: name, run: func(lo, hi int) {
				for _, p := range ps {
					p.run(lo, hi)
				}
			}})
		}
		return bs
	})
}

// BenchmarkKernelGemm runs gonum's blas64.Gemm on the same products as
// BenchmarkKernelDense.
func BenchmarkKernelGemm(b *testing.B) {
	kernBenchRun(b, 1, gemmBenches)
}

// gemmBenches returns gonum's products on one shape; across the pool each
// goroutine accumulates into a dW of its own, as in denseBenches.
func gemmBenches(sh denseShape, par bool) []denseBench {
	n, in, out := sh.n, sh.in, sh.out
	rnd := rand.New(rand.NewPCG(7, 8))
	x := blas64.General{Rows: n, Cols: in, Stride: in, Data: kernRandSlice(rnd, n*in)}
	w := blas64.General{Rows: out, Cols: in, Stride: in, Data: kernRandSlice(rnd, out*in)}
	y := blas64.General{Rows: n, Cols: out, Stride: out, Data: make([]float64, n*out)}
	dy := blas64.General{Rows: n, Cols: out, Stride: out, Data: kernRandSlice(rnd, n*out)}
	dx := blas64.General{Rows: n, Cols: in, Stride: in, Data: make([]float64, n*in)}
	p := runtime.GOMAXPROCS(0)
	dws := make([]blas64.General, p)
	for i := range dws {
		dws[i] = blas64.General{Rows: out, Cols: in, Stride: in, Data: make([]float64, out*in)}
	}
	who := func(lo int) int {
		if !par {
			return 0
		}
		return lo * p / n
	}
	rows := func(g blas64.General, lo, hi int) blas64.General {
		return blas64.General{Rows: hi - lo, Cols: g.Cols, Stride: g.Stride, Data: g.Data[lo*g.Stride : hi*g.Stride]}
	}
	return []denseBench{
		{"Forward", func(lo, hi int) {
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, rows(x, lo, hi), w, 1, rows(y, lo, hi))
		}},
		{"BackwardX", func(lo, hi int) {
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, rows(dy, lo, hi), w, 0, rows(dx, lo, hi))
		}},
		{"BackwardW", func(lo, hi int) {
			blas64.Gemm(blas.Trans, blas.NoTrans, 1, rows(dy, lo, hi), rows(x, lo, hi), 1, dws[who(lo)])
		}},
	}
}

var kernSink float64

// BenchmarkKernelExp compares the vector exp with a math.Exp loop on 4096
// arguments spread over [−20, 20].
func BenchmarkKernelExp(b *testing.B) {
	rnd := rand.New(rand.NewPCG(9, 10))
	src := make([]float64, 4096)
	for i := range src {
		src[i] = 40*rnd.Float64() - 20
	}
	dst := make([]float64, len(src))
	b.Run("vec", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for i := 0; i < b.N; i++ {
			expVec(dst, src)
		}
	})
	b.Run("math.Exp", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for i := 0; i < b.N; i++ {
			for j, v := range src {
				dst[j] = math.Exp(v)
			}
		}
	})
	// The float32 exponential, through the float64 one (expVec32).
	src32, dst32 := make([]float32, len(src)), make([]float32, len(src))
	for i, v := range src {
		src32[i] = float32(v)
	}
	b.Run("vec32", func(b *testing.B) {
		b.SetBytes(int64(4 * len(src)))
		for i := 0; i < b.N; i++ {
			expVec32(dst32, src32)
		}
	})
	kernSink = dst[0] + float64(dst32[0])
}

// BenchmarkKernelTanh compares tanhVec with a math.Tanh loop on 4096
// arguments spread over [−3, 3].
func BenchmarkKernelTanh(b *testing.B) {
	rnd := rand.New(rand.NewPCG(11, 12))
	src := make([]float64, 4096)
	for i := range src {
		src[i] = 6*rnd.Float64() - 3
	}
	h := make([]float64, len(src))
	b.Run("vec", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for i := 0; i < b.N; i++ {
			copy(h, src)
			tanhVec(h)
		}
	})
	b.Run("math.Tanh", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for i := 0; i < b.N; i++ {
			for j, v := range src {
				h[j] = math.Tanh(v)
			}
		}
	})
	kernSink = h[0]
}

// BenchmarkKernelPeak measures the machine's float64 FMA peak, the
// yardstick of the other benchmarks' %peak: independent FMA chains in
// assembly (peak_amd64.s, peak_arm64.s; plain Go with -tags purego or
// without AVX2) on GOMAXPROCS goroutines at once, so -cpu 1,2 gives the
// peak of one core and of two.
func BenchmarkKernelPeak(b *testing.B) {
	const iters = 1 << 14
	flops, _ := peakLoop(iters)
	b.RunParallel(func(pb *testing.PB) {
		s := 0.0
		for pb.Next() {
			_, v := peakLoop(iters)
			s += v
		}
		peakSink.Add(int64(s))
	})
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

var peakSink atomic.Int64
