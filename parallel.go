// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Work on a batch is cut into shards of a fixed number of rows, independent
// of the number of goroutines. Runners take shards in any order, but each
// shard writes its results into buffers of its own and the caller reduces
// them in shard order, so the result is bit-identical for any number of
// runners.
//
// The runners are long-lived goroutines of a package-wide pool that join
// calls as they come (runShards): starting goroutines per call would
// allocate, and steady-state training and evaluation allocate nothing.

// shardJob is work cut into shards. runShard computes shard s on runner r;
// r < the number of runners of the call, so per-runner scratch can be
// indexed by it.
type shardJob interface {
	runShard(r, s int)
}

// runState is the bookkeeping of one call to runShards; jobs embed it so that
// a call allocates nothing (after its first).
//
// A call offers workers−1 runner places to the pool: slots counts those
// still open. A pool goroutine takes one by decrementing slots to a value
// v ≥ 0 and runs as runner workers−1−v; when the caller has run out of
// shards it closes the places (slots swapped to closedSlots, so that a
// late decrement finds nothing) and waits for the runners that joined.
type runState struct {
	next    atomic.Int64
	shards  int64
	job     shardJob
	workers int
	slots   atomic.Int64
	done    atomic.Int64  // runners from the pool that have finished
	park    chan struct{} // a token from each finishing runner, for a caller that waits parked
	mu      sync.Mutex
	panicV  any
}

const closedSlots = math.MinInt64 / 2

// poolSpin is how long a pool goroutine keeps looking for a call to join
// after its last one before it parks, and how long a caller looks for its
// runners to finish before it parks: a training step's calls come a few
// microseconds apart, and a parked goroutine takes tens of microseconds to
// wake (a whole step of a small model, on a virtual machine, when its core
// was halted).
const poolSpin = 100 * time.Microsecond

var pool struct {
	mu   sync.Mutex
	size int
	// wake takes a call to parked pool goroutines; offer holds the latest
	// call with places open, for the spinning ones, of which there are
	// spinning.
	wake     chan *runState
	offer    atomic.Pointer[runState]
	spinning atomic.Int32
}

// ensurePool makes sure that at least n pool goroutines exist.
func ensurePool(n int) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.wake == nil {
		pool.wake = make(chan *runState)
	}
	for ; pool.size < n; pool.size++ {
		go poolWorker(pool.wake)
	}
}

// poolWorker is a pool goroutine: it joins calls as they are offered,
// looking for one for poolSpin after each (yielding its thread between
// looks), then parks until a call wakes it.
func poolWorker(wake chan *runState) {
	for {
		pool.spinning.Add(1)
		t0 := time.Now()
		for i := 1; ; i++ {
			if st := pool.offer.Load(); st != nil && st.slots.Load() > 0 {
				pool.spinning.Add(-1)
				if st.join() {
					t0 = time.Now()
				}
				pool.spinning.Add(1)
			}
			if i%64 == 0 && time.Since(t0) > poolSpin {
				break
			}
			runtime.Gosched()
		}
		pool.spinning.Add(-1)
		// A call that saw this goroutine still spinning sent no wake-up
		// for it; it published its offer before looking, so one look
		// after leaving the count finds it.
		if st := pool.offer.Load(); st != nil && st.join() {
			continue
		}
		(<-wake).join()
	}
}

// join takes a runner place of the call, if one is open, and runs it.
func (st *runState) join() bool {
	v := st.slots.Add(-1)
	if v < 0 {
		return false
	}
	st.run(st.workers - 1 - int(v))
	st.done.Add(1)
	select {
	case st.park <- struct{}{}:
	default: // a token is already there
	}
	return true
}

// run takes shards as runner r until none is left, keeping the first panic.
func (st *runState) run(r int) {
	defer func() {
		if v := recover(); v != nil {
			st.mu.Lock()
			if st.panicV == nil {
				st.panicV = v
			}
			st.mu.Unlock()
			st.next.Store(st.shards) // Stop the other runners early.
		}
	}()
	for {
		s := st.next.Add(1) - 1
		if s >= st.shards {
			return
		}
		st.job.runShard(r, int(s))
	}
}

// wait returns when joined runners have finished: it looks for poolSpin,
// then parks on tokens. Every finishing runner counts itself before it
// leaves a token, so a token taken is either a finish or a stale token of
// an earlier call, and the count is read again after each.
func (st *runState) wait(joined int64) {
	t0 := time.Now()
	for i := 1; st.done.Load() < joined; i++ {
		if i%64 == 0 && time.Since(t0) > poolSpin {
			for st.done.Load() < joined {
				<-st.park
			}
			return
		}
		runtime.Gosched()
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
//
// The other runners are pool goroutines that join the call: spinning ones
// from the offer, parked ones woken through the channel (as many as the
// spinning ones cannot cover). Nothing waits for a place to be taken: the
// caller takes shards from the start, and when none is left it closes the
// places and waits only for the runners that joined, which are running
// shards. So nested calls (from inside a shard) and concurrent ones cannot
// deadlock, and a call whose places nobody takes in time runs alone.
func runShards(job shardJob, st *runState, nShards, workers int) {
	if nShards <= 0 {
		return
	}
	st.next.Store(0)
	st.shards = int64(nShards)
	st.panicV = nil
	st.job = job
	if workers > 1 {
		// Twice as many pool goroutines as a call needs, so that
		// places stay covered while some are busy elsewhere.
		ensurePool(2 * workers)
		if st.park == nil {
			st.park = make(chan struct{}, 1)
		}
		st.workers = workers
		st.done.Store(0)
		st.slots.Store(int64(workers - 1))
		pool.offer.Store(st)
		for i := int(pool.spinning.Load()); i < workers-1; i++ {
			select {
			case pool.wake <- st:
				continue
			default: // no goroutine is parked
			}
			break
		}
	}
	st.run(0)
	if workers > 1 {
		pool.offer.CompareAndSwap(st, nil)
		left := st.slots.Swap(closedSlots)
		st.wait(int64(workers-1) - max(left, 0))
	}
	st.job = nil
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
type sumJob[T kernElem] struct {
	runState
	dst   []T
	src   [][]T
	scale T
	zero  bool
}

const (
	sumChunk = 1 << 14 // elements of a shard of the sum
	sumBlock = 512     // elements of dst summed over all sources at once
)

// runShard sums chunk s a block at a time: the block of dst stays in L1
// while every source is added into it (vector additions, addVec) and, with
// zero, each source's block is cleared just after it is read. Each element
// still takes the additions in shard order, then the scaling.
func (j *sumJob[T]) runShard(_, s int) {
	lo := s * sumChunk
	hi := min(lo+sumChunk, len(j.dst))
	for b := lo; b < hi; b += sumBlock {
		e := min(b+sumBlock, hi)
		d := j.dst[b:e]
		copy(d, j.src[0][b:e])
		if j.zero {
			clear(j.src[0][b:e])
		}
		for _, v := range j.src[1:] {
			addVecT(d, v[b:e])
			if j.zero {
				clear(v[b:e])
			}
		}
		for i := range d {
			d[i] *= j.scale
		}
	}
}

func (j *sumJob[T]) run(dst []T, src [][]T, scale T, workers int) {
	j.dst, j.src, j.scale = dst, src, scale
	n := (len(dst) + sumChunk - 1) / sumChunk
	runShards(j, &j.runState, n, workersFor(workers, n))
}
