// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

func init() {
	register.DoFn5x0[context.Context, beam.EventTime, string, func(beam.EventTime, string, float64), func(string, string)](&scoreLinesFn{})
	register.DoFn6x0[context.Context, beam.EventTime, beam.X, []float64, func(beam.EventTime, beam.X, float64), func(beam.X, string)](&scoreRowsFn{})
	register.Emitter3[beam.EventTime, string, float64]()
	register.Emitter2[string, string]()
	register.Emitter3[beam.EventTime, beam.X, float64]()
	register.Emitter2[beam.X, string]()
}

// The transforms' metrics, in the namespace "flowbeam".
var (
	rowsScored = beam.NewCounter("flowbeam", "rows")
	rowsBad    = beam.NewCounter("flowbeam", "bad")
	linesSkip  = beam.NewCounter("flowbeam", "skipped")
	batchSize  = beam.NewDistribution("flowbeam", "batch_rows")
)

// Scored holds the outputs of ScoreLines and ScoreRows.
type Scored struct {
	// Scores holds each good row's key and its log-density log p(x), or
	// log p(x | c) for a conditional model: KV<K, float64>.
	Scores beam.PCollection
	// Bad holds each bad row's key and the reason it is bad: KV<K,
	// string>.
	Bad beam.PCollection
}

// ScoreOptions tunes ScoreLines and ScoreRows.
type ScoreOptions struct {
	// BatchRows is the most rows evaluated in one call of the model; 0
	// means 4096, fewer for rows wider than 64 columns (2 MiB a batch),
	// as for nflow logprob.
	BatchRows int
}

// ScoreLines scores the lines of a numeric table, a PCollection of
// strings laid out as t says (see Table), with the model m. Each line
// holds a row of the model's data, then, for a conditional model, its
// context: Dim + ContextDim numbers, or the columns a header names. Scores
// is KV<string, float64>, each line with its log-density; Bad is
// KV<string, string>, each line that is not such a row with the reason.
// The lines of both are trimmed of a trailing carriage return and a byte
// order mark. Blank lines, comments and header lines are dropped.
//
// Lines are gathered into batches within a bundle and evaluated with one
// call of Flow.LogProb (LogProbGiven) per batch; the last batch of a bundle
// is evaluated in FinishBundle. A row's log-density is that of the same row
// evaluated alone: it does not depend on the batch. The scores keep their
// lines' timestamps but are emitted in the global window, so the input
// must be in the global window (a bounded input, such as textio.Read's).
//
// It returns an error if t does not fit the model (see Table) or the
// input is not a PCollection of strings in the global window.
func ScoreLines(s beam.Scope, m *Model, t Table, lines beam.PCollection, opts ScoreOptions) (Scored, error) {
	if m == nil {
		return Scored{}, errors.New("flowbeam: ScoreLines: nil *Model")
	}
	switch t.Sep {
	case 0:
		t.Sep = ','
	case ',', '\t', ';':
	default:
		return Scored{}, fmt.Errorf("flowbeam: ScoreLines: separator %q, want ',', '\\t' or ';'", t.Sep)
	}
	pos, err := t.columns(m)
	if err != nil {
		return Scored{}, fmt.Errorf("flowbeam: ScoreLines: %w", err)
	}
	if err := checkInput(lines); err != nil {
		return Scored{}, fmt.Errorf("flowbeam: ScoreLines: %w", err)
	}
	s = s.Scope("flowbeam.ScoreLines")
	fn := &scoreLinesFn{
		scoreBase: newScoreBase(m, opts),
		Sep:       t.Sep,
		Header:    trimLine(t.Header),
		Pos:       pos,
	}
	out, err := beam.TryParDo(s, fn, lines)
	if err != nil {
		return Scored{}, fmt.Errorf("flowbeam: ScoreLines: %w", err)
	}
	return Scored{Scores: out[0], Bad: out[1]}, nil
}

// ScoreRows scores rows given as numbers: a PCollection of KV<K,
// []float64>, each row with a key of any type, the row holding the model's
// data then, for a conditional model, its context. Scores is KV<K,
// float64>; Bad is KV<K, string>, each row of the wrong length or with a
// value that is not finite, with the reason. Batching, windows and errors
// are as for ScoreLines.
func ScoreRows(s beam.Scope, m *Model, rows beam.PCollection, opts ScoreOptions) (Scored, error) {
	if m == nil {
		return Scored{}, errors.New("flowbeam: ScoreRows: nil *Model")
	}
	if err := checkInput(rows); err != nil {
		return Scored{}, fmt.Errorf("flowbeam: ScoreRows: %w", err)
	}
	s = s.Scope("flowbeam.ScoreRows")
	out, err := beam.TryParDo(s, &scoreRowsFn{scoreBase: newScoreBase(m, opts)}, rows)
	if err != nil {
		return Scored{}, fmt.Errorf("flowbeam: ScoreRows: %w", err)
	}
	return Scored{Scores: out[0], Bad: out[1]}, nil
}

// checkInput returns an error if col is not in the global window.
func checkInput(col beam.PCollection) error {
	if !col.IsValid() {
		return errors.New("invalid input PCollection")
	}
	if ws := col.WindowingStrategy(); ws != nil && ws.Fn != nil && ws.Fn.Kind != window.GlobalWindows {
		return fmt.Errorf("the input is windowed (%v): scores are emitted at the end of a bundle, in the global window", ws.Fn)
	}
	return nil
}

// batchRows returns how many rows of d columns a batch holds by default:
// 4096, or for d > 64 as many as fill 2 MiB, a multiple of 128.
func batchRows(d int) int {
	return max(128, min(4096, (1<<18)/d/128*128))
}

// scoreBase is what the scoring DoFns share: the model, and a batch of rows
// with their elements' timestamps.
type scoreBase struct {
	Model     string `json:"model"`
	Digest    string `json:"digest"`
	BatchRows int    `json:"batch_rows"`

	f      *flow.Flow
	d, c   int
	x, ctx []float64 // the batch's data (rows×d) and contexts (rows×c)
	row    []float64 // the row being read, d+c values
	times  []beam.EventTime
	lp     []float64
	n      int // rows in the batch
}

func newScoreBase(m *Model, opts ScoreOptions) scoreBase {
	f := m.Flow()
	rows := opts.BatchRows
	if rows <= 0 {
		rows = batchRows(f.Dim() + f.ContextDim())
	}
	return scoreBase{Model: m.path, Digest: m.digest, BatchRows: rows}
}

// setup reads the model, once per worker process, and makes the buffers.
func (b *scoreBase) setup(ctx context.Context) error {
	f, err := workerModel(ctx, b.Model, b.Digest)
	if err != nil {
		return err
	}
	b.f, b.d, b.c = f, f.Dim(), f.ContextDim()
	rows := b.BatchRows
	b.x = make([]float64, rows*b.d)
	b.ctx = make([]float64, rows*b.c)
	b.row = make([]float64, b.d+b.c)
	b.times = make([]beam.EventTime, rows)
	b.lp = make([]float64, rows)
	return nil
}

// reset empties the batch: a bundle that failed may have left rows in it.
func (b *scoreBase) reset() { b.n = 0 }

// add appends b.row, read from an element of timestamp et, to the batch,
// and reports whether the batch is full.
func (b *scoreBase) add(et beam.EventTime) bool {
	copy(b.x[b.n*b.d:], b.row[:b.d])
	copy(b.ctx[b.n*b.c:], b.row[b.d:])
	b.times[b.n] = et
	b.n++
	return b.n == b.BatchRows
}

// eval writes the log-densities of the batch's rows into b.lp[:b.n].
func (b *scoreBase) eval(ctx context.Context) {
	n := b.n
	x := mat.NewDense(n, b.d, b.x[:n*b.d])
	if b.c == 0 {
		b.f.LogProb(b.lp[:n], x)
	} else {
		b.f.LogProbGiven(b.lp[:n], x, mat.NewDense(n, b.c, b.ctx[:n*b.c]))
	}
	rowsScored.Inc(ctx, int64(n))
	batchSize.Update(ctx, int64(n))
}

// scoreLinesFn is ScoreLines' DoFn.
type scoreLinesFn struct {
	scoreBase
	Sep    rune   `json:"sep"`
	Header string `json:"header"`
	Pos    []int  `json:"pos"`

	p    rowParser
	keys []string
}

func (fn *scoreLinesFn) Setup(ctx context.Context) error {
	if err := fn.setup(ctx); err != nil {
		return err
	}
	fn.p = rowParser{sep: byte(fn.Sep), header: fn.Header, pos: fn.Pos}
	fn.keys = make([]string, fn.BatchRows)
	return nil
}

func (fn *scoreLinesFn) ProcessElement(ctx context.Context, et beam.EventTime, line string, emit func(beam.EventTime, string, float64), bad func(string, string)) {
	line = trimLine(line)
	switch kind, err := fn.p.parse(fn.row, line); kind {
	case lineSkipped:
		linesSkip.Inc(ctx, 1)
		return
	case lineBad:
		rowsBad.Inc(ctx, 1)
		bad(line, err.Error())
		return
	}
	fn.keys[fn.n] = line
	if fn.add(et) {
		fn.flush(ctx, emit)
	}
}

func (fn *scoreLinesFn) StartBundle(_ context.Context, _ func(beam.EventTime, string, float64), _ func(string, string)) {
	clear(fn.keys)
	fn.reset()
}

func (fn *scoreLinesFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, string, float64), _ func(string, string)) {
	fn.flush(ctx, emit)
}

func (fn *scoreLinesFn) flush(ctx context.Context, emit func(beam.EventTime, string, float64)) {
	if fn.n == 0 {
		return
	}
	fn.eval(ctx)
	for i, lp := range fn.lp[:fn.n] {
		emit(fn.times[i], fn.keys[i], lp)
	}
	clear(fn.keys[:fn.n])
	fn.n = 0
}

// scoreRowsFn is ScoreRows' DoFn.
type scoreRowsFn struct {
	scoreBase

	keys []beam.X
}

func (fn *scoreRowsFn) Setup(ctx context.Context) error {
	if err := fn.setup(ctx); err != nil {
		return err
	}
	fn.keys = make([]beam.X, fn.BatchRows)
	return nil
}

func (fn *scoreRowsFn) ProcessElement(ctx context.Context, et beam.EventTime, key beam.X, row []float64, emit func(beam.EventTime, beam.X, float64), bad func(beam.X, string)) {
	if err := checkRow(fn.f, row); err != nil {
		rowsBad.Inc(ctx, 1)
		bad(key, err.Error())
		return
	}
	copy(fn.row, row)
	fn.keys[fn.n] = key
	if fn.add(et) {
		fn.flush(ctx, emit)
	}
}

func (fn *scoreRowsFn) StartBundle(_ context.Context, _ func(beam.EventTime, beam.X, float64), _ func(beam.X, string)) {
	clear(fn.keys)
	fn.reset()
}

func (fn *scoreRowsFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, beam.X, float64), _ func(beam.X, string)) {
	fn.flush(ctx, emit)
}

func (fn *scoreRowsFn) flush(ctx context.Context, emit func(beam.EventTime, beam.X, float64)) {
	if fn.n == 0 {
		return
	}
	fn.eval(ctx)
	for i, lp := range fn.lp[:fn.n] {
		emit(fn.times[i], fn.keys[i], lp)
	}
	clear(fn.keys[:fn.n])
	fn.n = 0
}
