// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Work on a batch is cut into shards of a fixed number of rows, independent
// of the number of goroutines. Runners take shards in any order, but each
// shard writes its results into buffers of its own and the caller reduces
// them in shard order, so the result is bit-identical for any number of
// runners.
//
// The runners are long-lived goroutines of a package-wide pool, fed through a
// channel: starting goroutines per call would allocate, and steady-state
// training and evaluation allocate nothing.

// shardJob is work cut into shards. runShard computes shard s on runner r;
// r < the number of runners of the call, so per-runner scratch can be
// indexed by it.
type shardJob interface {
	runShard(r, s int)
}

// runState is the bookkeeping of one call to runShards; jobs embed it so that
// a call allocates nothing.
type runState struct {
	next   atomic.Int64
	shards int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	panicV any
}

type poolTask struct {
	job shardJob
	st  *runState
	r   int
}

var pool struct {
	mu   sync.Mutex
	size int
	ch   chan poolTask
}

// ensurePool makes sure that at least n pool goroutines exist.
func ensurePool(n int) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.ch == nil {
		pool.ch = make(chan poolTask)
	}
	for ; pool.size < n; pool.size++ {
		go func(ch chan poolTask) {
			for t := range ch {
				runRunner(t.job, t.st, t.r)
			}
		}(pool.ch)
	}
}

// runRunner takes shards until none is left.
func runRunner(job shardJob, st *runState, r int) {
	defer func() {
		if v := recover(); v != nil {
			st.mu.Lock()
			if st.panicV == nil {
				st.panicV = v
			}
			st.mu.Unlock()
			st.next.Store(st.shards) // Stop the other runners early.
		}
		st.wg.Done()
	}()
	for {
		s := st.next.Add(1) - 1
		if s >= st.shards {
			return
		}
		job.runShard(r, int(s))
	}
}

// workersFor returns the number of runners to use: w if positive, else
// GOMAXPROCS, and never more than the number of shards.
func workersFor(w, shards int) int {
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return max(1, min(w, shards))
}

// runShards runs shards 0..nShards−1 of job on `workers` runners (the
// calling goroutine is runner 0) and returns when all are done. A panic in
// any shard is re-raised in the caller.
func runShards(job shardJob, st *runState, nShards, workers int) {
	if nShards <= 0 {
		return
	}
	st.next.Store(0)
	st.shards = int64(nShards)
	st.panicV = nil
	st.wg.Add(1) // runner 0, the caller
	if workers > 1 {
		// Twice as many pool goroutines as a call needs: one that has
		// just finished the last call's shard may not be back at the
		// channel yet, and a spare one waiting there takes the task.
		ensurePool(2 * workers)
		for r := 1; r < workers; r++ {
			st.wg.Add(1)
			select {
			case pool.ch <- poolTask{job: job, st: st, r: r}:
			default:
				// No pool goroutine is waiting (other calls hold them,
				// or this call is nested inside a shard): the runners
				// already started take this runner's shards. Nothing
				// waits on a busy goroutine, so nothing deadlocks, and
				// nothing is allocated.
				st.wg.Done()
			}
		}
	}
	runRunner(job, st, 0)
	st.wg.Wait()
	if st.panicV != nil {
		panic(st.panicV)
	}
}

// sumJob reduces per-shard vectors in shard order into dst, scaled by
// scale, in chunks of the vector that runners take independently:
//
//	dst[j] = scale · (((src[0][j] + src[1][j]) + src[2][j]) + …)
//
// With zero set it also zeroes each chunk of src once summed, while the
// chunk is still in cache: a training step's shard gradients then start
// the next step cleared, without a pass of their own (gradEval).
type sumJob struct {
	runState
	dst   []float64
	src   [][]float64
	scale float64
	zero  bool
}

const sumChunk = 1 << 14

func (j *sumJob) runShard(_, s int) {
	lo := s * sumChunk
	hi := min(lo+sumChunk, len(j.dst))
	d := j.dst[lo:hi]
	copy(d, j.src[0][lo:hi])
	if j.zero {
		clear(j.src[0][lo:hi])
	}
	for _, v := range j.src[1:] {
		v := v[lo:hi]
		for i, x := range v {
			d[i] += x
		}
		if j.zero {
			clear(v)
		}
	}
	for i := range d {
		d[i] *= j.scale
	}
}

func (j *sumJob) run(dst []float64, src [][]float64, scale float64, workers int) {
	j.dst, j.src, j.scale = dst, src, scale
	n := (len(dst) + sumChunk - 1) / sumChunk
	runShards(j, &j.runState, n, workersFor(workers, n))
}
