// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/nfgo/flow/beam/flowbeam"
)

func init() {
	register.DoFn3x0[string, float64, func(string)](&formatScoresFn{})
	register.Emitter1[string]()
	register.Function2x1(formatBad)
}

func scoreCmd() func(context.Context, io.Writer) error {
	model := flag.String("model", "", "the model file")
	in := flag.String("in", "", "the data: a CSV file, or a glob of files, one row a line")
	out := flag.String("out", "", "where to write each row's line followed by its log-density")
	bad := flag.String("bad", "", "where to write the rows that cannot be scored, a JSON object a line (default: -out with .bad.jsonl added)")
	batch := flag.Int("batch", 0, "rows evaluated in one call (0: 4096, fewer for rows wider than 64 columns)")
	return func(ctx context.Context, stderr io.Writer) error {
		switch {
		case *model == "":
			return usageError{"-model: no model file given"}
		case *in == "":
			return usageError{"-in: no data given"}
		case *out == "":
			return usageError{"-out: no output file given"}
		case *batch < 0:
			return usageError{fmt.Sprintf("-batch: %d, want at least 0", *batch)}
		}
		if *bad == "" {
			*bad = *out + ".bad.jsonl"
		}
		if err := refuseSame(map[string]string{"-in": *in, "-model": *model, "-out": *out, "-bad": *bad}); err != nil {
			return err
		}
		m, err := flowbeam.LoadModel(ctx, *model)
		if err != nil {
			return err
		}
		t, err := flowbeam.ReadTable(ctx, *in)
		if err != nil {
			return err
		}
		p, s := beam.NewPipelineWithRoot()
		res, err := flowbeam.ScoreLines(s, m, t, textio.Read(s, *in), flowbeam.ScoreOptions{BatchRows: *batch})
		if err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		textio.Write(s, *out, beam.ParDo(s, &formatScoresFn{Sep: byte(t.Sep)}, res.Scores))
		textio.Write(s, *bad, beam.ParDo(s, formatBad, res.Bad))
		if err := createEmpty(ctx, *out, *bad); err != nil {
			return err
		}
		n, err := runPipeline(ctx, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%d rows scored into %s, %d bad rows into %s\n", n["rows"], *out, n["bad"], *bad)
		return nil
	}
}

// refuseSame returns a usage error if two of the flags name the same path.
func refuseSame(paths map[string]string) error {
	for a, pa := range paths {
		for b, pb := range paths {
			if a < b && pa == pb {
				return usageError{fmt.Sprintf("%s and %s are the same file, %s", a, b, pa)}
			}
		}
	}
	return nil
}

// createEmpty creates each file empty, replacing what was there: Beam's
// textio writes no file for an empty output, and an old one must not pass
// for this run's.
func createEmpty(ctx context.Context, paths ...string) error {
	for _, p := range paths {
		fs, err := filesystem.New(ctx, p)
		if err != nil {
			return err
		}
		w, err := fs.OpenWrite(ctx, p)
		if err == nil {
			err = w.Close()
		}
		fs.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// formatScoresFn writes each row's line, the separator and its
// log-density in the shortest form that reads back exactly, as nflow
// logprob writes it. It emits the lines of a bundle in chunks of about
// chunkBytes, lines joined by newlines, for textio.Write, which writes
// each element as a line: the chunks cost the runner's shuffle into the
// writer one element each, not one a row.
type formatScoresFn struct {
	Sep byte `json:"sep"`

	buf []byte
}

func (fn *formatScoresFn) ProcessElement(line string, logp float64, emit func(string)) {
	if len(fn.buf) > 0 {
		fn.buf = append(fn.buf, '\n')
	}
	fn.buf = append(fn.buf, line...)
	fn.buf = append(fn.buf, fn.Sep)
	fn.buf = strconv.AppendFloat(fn.buf, logp, 'g', -1, 64)
	if len(fn.buf) >= chunkBytes {
		fn.flush(emit)
	}
}

// StartBundle drops what a bundle that failed left unwritten.
func (fn *formatScoresFn) StartBundle(_ func(string)) {
	fn.buf = fn.buf[:0]
}

func (fn *formatScoresFn) FinishBundle(emit func(string)) {
	fn.flush(emit)
}

func (fn *formatScoresFn) flush(emit func(string)) {
	if len(fn.buf) > 0 {
		emit(string(fn.buf))
		fn.buf = fn.buf[:0]
	}
}

// formatBad writes a bad row as a line of JSON: {"line":…,"reason":…}.
func formatBad(line, reason string) string {
	b, _ := json.Marshal(struct {
		Line   string `json:"line"`
		Reason string `json:"reason"`
	}{line, reason})
	return string(b)
}
