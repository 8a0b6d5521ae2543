// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/nfgo/flow/beam/flowbeam"
)

func init() {
	register.DoFn3x0[int64, []float64, func(string)](&formatRowsFn{})
}

func sampleCmd() func(context.Context, io.Writer) error {
	model := flag.String("model", "", "the model file")
	n := flag.Int64("n", 1000, "number of samples")
	seed := flag.Uint64("seed", 1, "random seed")
	logq := flag.Bool("logq", false, "add a last column with each sample's log-density")
	shards := flag.Int("shards", 0, "pieces of work the samples are cut into (0: one per 4096 rows, at most 1024); the samples do not depend on it")
	out := flag.String("out", "", "where to write the samples")
	return func(ctx context.Context, stderr io.Writer) error {
		switch {
		case *model == "":
			return usageError{"-model: no model file given"}
		case *out == "":
			return usageError{"-out: no output file given"}
		case *n < 1:
			return usageError{fmt.Sprintf("-n: %d, want at least 1", *n)}
		case *shards < 0:
			return usageError{fmt.Sprintf("-shards: %d, want at least 0", *shards)}
		}
		if err := refuseSame(map[string]string{"-model": *model, "-out": *out}); err != nil {
			return err
		}
		m, err := flowbeam.LoadModel(ctx, *model)
		if err != nil {
			return err
		}
		p, s := beam.NewPipelineWithRoot()
		rows, err := flowbeam.Sample(s, m, flowbeam.SampleOptions{N: *n, Seed: *seed, Shards: *shards, LogQ: *logq})
		if err != nil {
			return err
		}
		textio.Write(s, *out, beam.ParDo(s, &formatRowsFn{}, rows))
		if err := createEmpty(ctx, *out); err != nil {
			return err
		}
		if _, err := runPipeline(ctx, p); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%d samples written to %s\n", *n, *out)
		return nil
	}
}

// formatRowsFn writes rows as nflow sample does: each row's numbers
// separated by commas, each in the shortest form that reads back exactly.
// It emits the rows of a bundle in chunks of about chunkBytes, as
// formatScoresFn does.
type formatRowsFn struct {
	buf []byte
}

func (fn *formatRowsFn) ProcessElement(_ int64, row []float64, emit func(string)) {
	if len(fn.buf) > 0 {
		fn.buf = append(fn.buf, '\n')
	}
	for j, v := range row {
		if j > 0 {
			fn.buf = append(fn.buf, ',')
		}
		fn.buf = strconv.AppendFloat(fn.buf, v, 'g', -1, 64)
	}
	if len(fn.buf) >= chunkBytes {
		fn.flush(emit)
	}
}

// StartBundle drops what a bundle that failed left unwritten.
func (fn *formatRowsFn) StartBundle(_ func(string)) {
	fn.buf = fn.buf[:0]
}

func (fn *formatRowsFn) FinishBundle(emit func(string)) {
	fn.flush(emit)
}

func (fn *formatRowsFn) flush(emit func(string)) {
	if len(fn.buf) > 0 {
		emit(string(fn.buf))
		fn.buf = fn.buf[:0]
	}
}
