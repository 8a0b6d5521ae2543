// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countJob counts the runs of each shard and checks each runner index.
type countJob struct {
	runState
	runs    []atomic.Int32
	workers int
	badR    atomic.Int32
	nested  bool
}

func (j *countJob) runShard(r, s int) {
	if r < 0 || r >= j.workers {
		j.badR.Add(1)
	}
	j.runs[s].Add(1)
	if j.nested && s%7 == 0 {
		// A call from inside a shard, on the same pool.
		in := &countJob{runs: make([]atomic.Int32, 5), workers: 2}
		runShards(in, &in.runState, 5, 2)
		for i := range in.runs {
			if in.runs[i].Load() != 1 {
				j.badR.Add(1)
			}
		}
	}
}

// TestPoolCalls runs many calls at once from several goroutines, some with
// calls nested in their shards, with each number of runners, and checks
// that every shard of every call ran exactly once, on a runner index below
// the call's, whoever joined.
func TestPoolCalls(t *testing.T) {
	for _, workers := range []int{2, 3, 8} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan string, 4)
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					j := &countJob{workers: workers, nested: g%2 == 1}
					for call := 0; call < 200; call++ {
						n := 1 + (call*7+g)%23
						j.runs = make([]atomic.Int32, n)
						runShards(j, &j.runState, n, workers)
						for s := range j.runs {
							if got := j.runs[s].Load(); got != 1 {
								errs <- fmt.Sprintf("goroutine %d call %d: shard %d of %d ran %d times", g, call, s, n, got)
								return
							}
						}
						if j.badR.Load() != 0 {
							errs <- fmt.Sprintf("goroutine %d call %d: a runner index out of range, or a nested call's shard not run once", g, call)
							return
						}
					}
				}(g)
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
		})
	}
}

// panicJob panics in one shard.
type panicJob struct {
	runState
	ran atomic.Int32
}

func (j *panicJob) runShard(_, s int) {
	j.ran.Add(1)
	if s == 3 {
		panic("shard 3")
	}
}

// TestPoolPanic: a panic in a shard run by any runner reaches the caller,
// and the job's state serves the next call.
func TestPoolPanic(t *testing.T) {
	j := &panicJob{}
	for i := 0; i < 50; i++ {
		func() {
			defer func() {
				if v := recover(); v != "shard 3" {
					t.Fatalf("call %d: recovered %v, want the shard's panic", i, v)
				}
			}()
			runShards(j, &j.runState, 8, 3)
		}()
	}
	c := &countJob{runs: make([]atomic.Int32, 9), workers: 3}
	runShards(c, &c.runState, 9, 3)
	for s := range c.runs {
		if c.runs[s].Load() != 1 {
			t.Fatalf("after the panics: shard %d ran %d times", s, c.runs[s].Load())
		}
	}
}

// busyJob keeps its runner busy for d per shard.
type busyJob struct {
	runState
	d time.Duration
}

func (j *busyJob) runShard(_, _ int) {
	for t := time.Now(); time.Since(t) < j.d; {
	}
}

// BenchmarkPoolHandoff runs calls of two shards of busy work each on two
// runners, back to back: with -cpu 2, ns/op above the shard's length is
// what handing the second shard to the pool costs.
func BenchmarkPoolHandoff(b *testing.B) {
	for _, d := range []time.Duration{0, 20 * time.Microsecond, 200 * time.Microsecond} {
		b.Run(d.String(), func(b *testing.B) {
			j := &busyJob{d: d}
			for i := 0; i < b.N; i++ {
				runShards(j, &j.runState, 2, 2)
			}
		})
	}
}

// TestAddVec checks addVec against its reference bit for bit (both are
// IEEE additions) on every length 0 … 3w+1 and longer ones, with the
// neighbours of dst and src guarded.
func TestAddVec(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(51, 52))
		for _, n := range affineLengths() {
			d, s := randGuarded(rnd, n), randGuarded(rnd, n)
			want := append([]float64(nil), d.s()...)
			addVecRef(want, s.s())
			addVec(d.s(), s.s())
			d.check(t, fmt.Sprint("addVec dst n=", n))
			s.check(t, fmt.Sprint("addVec src n=", n))
			for i, v := range d.s() {
				if math.Float64bits(v) != math.Float64bits(want[i]) {
					t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, v, want[i])
				}
			}
		}
	})
}

// TestSumJob checks the reduction of shard vectors against the order it
// promises, dst[j] = scale·(((src[0][j] + src[1][j]) + src[2][j]) + …),
// bit for bit, on lengths across its blocks and chunks, for 1 to 4
// sources and 1 to 3 runners, and that with zero set every source comes
// back cleared.
func TestSumJob(t *testing.T) {
	rnd := rand.New(rand.NewPCG(53, 54))
	for _, n := range []int{1, 5, sumBlock - 1, sumBlock + 3, sumChunk + sumBlock + 7, 2*sumChunk + 1} {
		for nsrc := 1; nsrc <= 4; nsrc++ {
			for workers := 1; workers <= 3; workers++ {
				src := make([][]float64, nsrc)
				for i := range src {
					src[i] = kernRandSlice(rnd, n)
				}
				want := make([]float64, n)
				for j := range want {
					s := src[0][j]
					for _, v := range src[1:] {
						s += v[j]
					}
					want[j] = 0.3 * s
				}
				dst := make([]float64, n)
				var job sumJob[float64]
				job.zero = true
				job.run(dst, src, 0.3, workers)
				name := fmt.Sprintf("n=%d sources=%d workers=%d", n, nsrc, workers)
				for j := range dst {
					if math.Float64bits(dst[j]) != math.Float64bits(want[j]) {
						t.Fatalf("%s: dst[%d] = %v, want %v", name, j, dst[j], want[j])
					}
				}
				for i, v := range src {
					for j, x := range v {
						if x != 0 {
							t.Fatalf("%s: source %d not cleared at %d", name, i, j)
						}
					}
				}
			}
		}
	}
}
