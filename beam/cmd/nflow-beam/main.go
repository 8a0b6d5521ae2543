// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Command nflow-beam scores and samples flow models on Apache Beam.
//
// Usage:
//
//	nflow-beam score -model model.json -in 'data*.csv' -out scores.csv [-bad bad.jsonl] [beam flags]
//	nflow-beam sample -model model.json -n 1000000 [-seed 1] [-logq] [-shards 0] -out samples.csv [beam flags]
//
// Paths may be local or anything a Beam file system reads (gs://…); -in
// may be a glob. The pipeline runs on the Prism runner in process unless
// Beam's flags choose another: --runner=flink --endpoint=host:8099, or
// --runner=dataflow --project=… --region=… --staging_location=gs://…,
// with the rest of Beam's pipeline options.
//
// score reads a numeric table as nflow logprob does (a header, commas,
// tabs or semicolons, comments) and writes one line per row of data: the
// row's line as read, the separator, and its log-density in the shortest
// form that reads back exactly, the number nflow logprob writes for it.
// Beam keeps no order, so each line carries its row, and the output has no
// header. The header line, blank lines and comments are skipped; the
// header of the first file found chooses the model's columns as for nflow
// logprob. Rows that cannot be scored (a wrong number of columns, a field
// that is not a finite number) are written to -bad, one JSON object a line
// with the line and the reason, and do not stop the pipeline.
//
// sample writes -n rows drawn from an unconditional model, each a line of
// numbers as nflow sample writes them (with log q(x) last with -logq), in
// no order and without a header. The rows depend on the model, -n and
// -seed only: not on the runner, the workers or -shards (see
// flowbeam.Sample). They are not nflow sample's rows for the same seed.
//
// A model file that fails validation, a table whose header or width does
// not fit the model, and a bad command line stop nflow-beam before the
// pipeline runs. Exit status: 0 success, 1 an error, 2 a bad command line.
//
// A runner that starts nflow-beam as its worker passes Beam's worker flags
// (--worker …) and no subcommand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs:// paths
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
)

// Exit statuses.
const (
	exitError = 1
	exitUsage = 2
)

// chunkBytes is about the size of the elements that carry output lines to
// textio.Write, many lines each.
const chunkBytes = 1 << 20

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// commands are the subcommands: each registers its flags on
// flag.CommandLine, beside Beam's, and returns the function that builds
// and runs its pipeline once they are parsed.
var commands = map[string]func() func(ctx context.Context, stderr io.Writer) error{
	"score":  scoreCmd,
	"sample": sampleCmd,
}

const usage = `usage:
  nflow-beam score -model model.json -in data.csv -out scores.csv [-bad bad.jsonl] [-batch rows] [beam flags]
  nflow-beam sample -model model.json -n rows [-seed 1] [-logq] [-shards n] -out samples.csv [beam flags]

Beam flags choose the runner: Prism in process by default, or for example
--runner=flink --endpoint=localhost:8099, or --runner=dataflow --project=P
--region=R --staging_location=gs://B/staging. nflow-beam CMD -h lists them all.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		// A worker: Beam's flags only. beam.Init runs the worker and
		// exits when --worker is set.
		flag.CommandLine.SetOutput(stderr)
		flag.Parse()
		beam.Init()
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nflow-beam: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	beamFlags := flag.NewFlagSet("beam", flag.ContinueOnError)
	flag.VisitAll(func(f *flag.Flag) { beamFlags.Var(f.Value, f.Name, f.Usage) })
	exec := cmd()
	cmdFlags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flag.VisitAll(func(f *flag.Flag) {
		if beamFlags.Lookup(f.Name) == nil {
			cmdFlags.Var(f.Value, f.Name, f.Usage)
		}
	})
	flag.CommandLine.Init("nflow-beam "+args[0], flag.ContinueOnError)
	flag.CommandLine.SetOutput(stderr)
	flag.CommandLine.Usage = func() {
		fmt.Fprintf(stderr, "usage: nflow-beam %s [flags] [beam flags]\n\nflags:\n", args[0])
		cmdFlags.SetOutput(stderr)
		cmdFlags.PrintDefaults()
		fmt.Fprintln(stderr, "\nbeam flags (the runner and its options):")
		beamFlags.SetOutput(stderr)
		beamFlags.PrintDefaults()
	}
	if err := flag.CommandLine.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(stderr, "nflow-beam %s: unexpected argument %q\n", args[0], flag.Arg(0))
		return exitUsage
	}
	beam.Init()
	if err := exec(context.Background(), stderr); err != nil {
		fmt.Fprintf(stderr, "nflow-beam %s: %v\n", args[0], err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitError
	}
	return 0
}

// runPipeline runs p on the runner that Beam's flags choose, Prism by
// default, and returns the counters of package flowbeam by name, those
// the runner reports.
func runPipeline(ctx context.Context, p *beam.Pipeline) (map[string]int64, error) {
	res, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return nil, err
	}
	counters := make(map[string]int64)
	if res == nil {
		return counters, nil
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == "flowbeam" {
			counters[c.Name()] += c.Result()
		}
	}
	return counters, nil
}
