// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

func init() {
	register.DoFn2x0[[]byte, func(int64)](&shardsFn{})
	register.DoFn3x1[context.Context, int64, func(int64, []float64), error](&sampleFn{})
	register.Emitter1[int64]()
	register.Emitter2[int64, []float64]()
}

// rowsDrawn counts Sample's rows.
var rowsDrawn = beam.NewCounter("flowbeam", "sampled")

// BlockRows is the number of rows of Sample's blocks: rows
// [b·BlockRows, (b+1)·BlockRows) of the output are drawn with a generator
// of their own, seeded by (Seed, b).
const BlockRows = 4096

// DefaultShards is the most shards Sample cuts its rows into when
// SampleOptions.Shards is 0.
const DefaultShards = 1024

// SampleOptions configures Sample.
type SampleOptions struct {
	// N is the number of rows to draw, at least 1.
	N int64
	// Seed seeds the draws.
	Seed uint64
	// Shards is the number of pieces of work the rows are cut into, each a
	// run of whole blocks: 0 means one per block up to DefaultShards. It
	// changes how the work is spread, never the rows.
	Shards int
	// LogQ adds each row's log-density log q(x) as a last value.
	LogQ bool
}

// Sample draws opts.N rows from the unconditional model m: a PCollection
// of KV<int64, []float64>, each row's index in [0, N) with the row, Dim
// values and log q(x) after them with opts.LogQ.
//
// The rows are cut into blocks of BlockRows. Block b is drawn by
// Flow.Sample in row order with the generator
//
//	rand.New(rand.NewChaCha8(key)),
//
// key being 32 bytes: Seed and b as little-endian uint64s, then
// "nfgo-flow/sample". Row i is therefore a function of the model, Seed
// and i alone: the same on every runner, for any number of workers, shards
// or bundles, and for any N > i. Independent keys make independent streams,
// so neighbouring blocks and seeds are not correlated. The rows are not
// those of nflow sample, which draws all rows from one generator.
//
// Shards are distributed by a Reshuffle. It returns an error for a
// conditional model, N < 1 or Shards < 0.
func Sample(s beam.Scope, m *Model, opts SampleOptions) (beam.PCollection, error) {
	switch {
	case m == nil:
		return beam.PCollection{}, errors.New("flowbeam: Sample: nil *Model")
	case m.Flow().ContextDim() > 0:
		return beam.PCollection{}, fmt.Errorf("flowbeam: Sample: the model %s is conditional (a context of %d columns): sampling given contexts is not supported", m.path, m.Flow().ContextDim())
	case opts.N < 1:
		return beam.PCollection{}, fmt.Errorf("flowbeam: Sample: N is %d, want at least 1", opts.N)
	case opts.Shards < 0:
		return beam.PCollection{}, fmt.Errorf("flowbeam: Sample: Shards is %d, want at least 0", opts.Shards)
	}
	blocks := (opts.N-1)/BlockRows + 1
	shards := int64(opts.Shards)
	if shards == 0 {
		shards = DefaultShards
	}
	shards = min(shards, blocks)
	s = s.Scope("flowbeam.Sample")
	ids := beam.ParDo(s, &shardsFn{Shards: shards}, beam.Impulse(s))
	ids = beam.Reshuffle(s, ids)
	return beam.ParDo(s, &sampleFn{
		Model:  m.path,
		Digest: m.digest,
		N:      opts.N,
		Seed:   opts.Seed,
		Shards: shards,
		LogQ:   opts.LogQ,
	}, ids), nil
}

// shardsFn emits the shard numbers 0, …, Shards−1.
type shardsFn struct {
	Shards int64 `json:"shards"`
}

func (fn *shardsFn) ProcessElement(_ []byte, emit func(int64)) {
	for k := range fn.Shards {
		emit(k)
	}
}

// sampleFn draws the rows of a shard.
type sampleFn struct {
	Model  string `json:"model"`
	Digest string `json:"digest"`
	N      int64  `json:"n"`
	Seed   uint64 `json:"seed"`
	Shards int64  `json:"shards"`
	LogQ   bool   `json:"logq"`

	f  *flow.Flow
	x  []float64 // a batch's samples, when LogQ
	lq []float64
}

func (fn *sampleFn) Setup(ctx context.Context) error {
	f, err := workerModel(ctx, fn.Model, fn.Digest)
	if err != nil {
		return err
	}
	fn.f = f
	if fn.LogQ {
		rows := batchRows(f.Dim())
		fn.x = make([]float64, rows*f.Dim())
		fn.lq = make([]float64, rows)
	}
	return nil
}

func (fn *sampleFn) ProcessElement(ctx context.Context, shard int64, emit func(int64, []float64)) error {
	if shard < 0 || shard >= fn.Shards {
		return fmt.Errorf("flowbeam: shard %d of %d", shard, fn.Shards)
	}
	lo, hi := shardBlocks(shard, fn.Shards, (fn.N-1)/BlockRows+1)
	for b := lo; b < hi; b++ {
		fn.block(ctx, b, emit)
	}
	return nil
}

// shardBlocks returns the blocks [lo, hi) of shard k of shards, the blocks
// dealt out in runs whose lengths differ by at most one.
func shardBlocks(k, shards, blocks int64) (lo, hi int64) {
	q, r := blocks/shards, blocks%shards
	lo = k*q + min(k, r)
	hi = lo + q
	if k < r {
		hi++
	}
	return lo, hi
}

// blockRand returns the generator of block b.
func blockRand(seed uint64, b int64) *rand.Rand {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(b))
	copy(key[16:], "nfgo-flow/sample")
	return rand.New(rand.NewChaCha8(key))
}

// block draws the rows of block b, batchRows at a time; Flow.Sample draws
// its base variables from rnd in row order, so the batches give the rows
// of one call for the block.
func (fn *sampleFn) block(ctx context.Context, b int64, emit func(int64, []float64)) {
	d := fn.f.Dim()
	rnd := blockRand(fn.Seed, b)
	end := min(fn.N, (b+1)*BlockRows)
	rows := int64(batchRows(d))
	for i := b * BlockRows; i < end; {
		m := int(min(rows, end-i))
		w := d
		if fn.LogQ {
			w++
		}
		// Each batch's rows are a new slab: emitted rows are not reused.
		out := make([]float64, m*w)
		if fn.LogQ {
			fn.f.Sample(mat.NewDense(m, d, fn.x[:m*d]), fn.lq[:m], rnd)
			for r := range m {
				copy(out[r*w:], fn.x[r*d:(r+1)*d])
				out[r*w+d] = fn.lq[r]
			}
		} else {
			fn.f.Sample(mat.NewDense(m, d, out), nil, rnd)
		}
		for r := range m {
			emit(i+int64(r), out[r*w:(r+1)*w:(r+1)*w])
		}
		rowsDrawn.Inc(ctx, int64(m))
		i += int64(m)
	}
}
