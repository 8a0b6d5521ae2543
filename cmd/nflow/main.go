// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Command nflow fits, samples and evaluates normalizing flows.
//
// Usage:
//
//	nflow demo [-data moons] [-out nflow-demo]
//	nflow fit -in data.csv [-model realnvp|nsf|maf|nsf-ar] [-bins 8] [-bound 3] [-layers 8] [-hidden 64,64] [-lu] [-actnorm] [-epochs 200] [-context K|names] … -out model.json
//	nflow sample -model model.json -n 1000 [-seed 1] [-out samples.csv] [-context ctx.csv]
//	nflow logprob -model model.json -in data.csv [-out logp.csv]
//	nflow plot -model model.json -out model.png [-context "0;1"]
//	nflow datasets
//
// Conditional flows model p(x | c), the data x given a context c: fit
// -context K takes the last K columns of the data as the context, or
// -context a,b the columns so named in the header. logprob then reads each
// row's data followed by its context (or the columns by the model's names),
// sample -context ctx.csv draws -n samples for each row of ctx.csv, with a
// first column context_row naming it, and plot draws the density at a few
// contexts side by side. demo -data moons-given and -data ring-given train
// conditional flows on built-in data.
//
// fit -base chooses the base distribution, trained with the layers: normal
// (the standard normal, the default), diag (a diagonal Gaussian), mog with
// -components K (a mixture of K diagonal Gaussians, for multimodal data)
// or, with -context, cdiag (a diagonal Gaussian whose mean and log-std are
// affine in the context). The model file records it; sample, logprob and
// plot use it.
//
// Data files are CSV, one sample per row, with or without a header line
// (semicolon- and tab-separated files work too). Models are JSON documents
// in the format of FORMAT.md. sample and logprob stream: their memory does
// not depend on the number of rows.
//
// An output file (-out) that is a regular file, or new, is written
// atomically: through a temporary file in the same directory, renamed into
// place when complete, so that a failed or interrupted command (SIGINT,
// SIGTERM) leaves the previous file and no temporary one. Devices, FIFOs
// and /dev/stdout are written in place; a symbolic link's target is written.
// An output that is the command's input (-in, -model) is refused.
//
// Errors go to standard error as "nflow COMMAND: message". Exit status:
//
//	0    success
//	1    an error: bad data, a bad model file, a file that cannot be written
//	2    a bad command line
//	3    an internal error (a bug): a panic in the command, reported with
//	     its stack
//	130  interrupted by SIGINT or SIGTERM (fit saves the best model so far)
//
// What the command cannot catch ends the process as the Go runtime does,
// with status 2 and a dump of the goroutines: a fatal runtime error (out of
// memory) or a panic on another goroutine. sample and logprob stream so
// that no row count can exhaust memory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/nfgo/flow"
)

// Exit statuses.
const (
	exitError       = 1
	exitUsage       = 2
	exitInternal    = 3
	exitInterrupted = 130
)

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// interrupted means the command was stopped by a signal after saving what it
// could: exit status 130.
var errInterrupted = errors.New("interrupted")

const usage = `nflow fits, samples and evaluates normalizing flows.

Usage:
  nflow demo     [-data moons] [-out nflow-demo]   train on built-in data, draw pictures
  nflow fit      -in data.csv -out model.json        fit a flow to a CSV file
  nflow sample   -model model.json -n 1000           draw samples (CSV)
  nflow logprob  -model model.json -in data.csv      log-density of each row
  nflow plot     -model model.json -out model.png    draw the density or marginals
  nflow datasets                                     list the built-in data sets

A conditional flow p(x | c): fit -context K (the last K columns are the
context c), then sample -context ctx.csv, logprob and plot take contexts.

Run "nflow COMMAND -h" for a command's flags.

Exit status: 0 success, 1 an error (data, model, files), 2 a bad command
line, 3 an internal error (a bug), 130 interrupted.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// commands are nflow's subcommands.
var commands = map[string]func(context.Context, []string, io.Writer, io.Writer) error{
	"demo":     cmdDemo,
	"fit":      cmdFit,
	"sample":   cmdSample,
	"logprob":  cmdLogProb,
	"plot":     cmdPlot,
	"datasets": cmdDatasets,
}

// run runs the command line args and returns the exit status. A panic in
// the command is a bug: it is reported with its stack, exit status 3.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "-help" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "nflow: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "nflow %s: internal error, please report it: %v\n\n%s", name, r, debug.Stack())
			code = exitInternal
		}
	}()
	err := cmd(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nflow %s: %v\n", name, err)
		return exitUsage
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	}
	fmt.Fprintf(stderr, "nflow %s: %v\n", name, err)
	return exitError
}

// newFlags returns a flag set whose errors are returned, not fatal.
func newFlags(name string, stderr io.Writer, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nflow %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// parseInts reads a comma-separated list of positive integers.
func parseInts(name, s string) ([]int, error) {
	var v []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			return nil, usageError{fmt.Sprintf("-%s: %q is not a positive integer", name, f)}
		}
		v = append(v, n)
	}
	return v, nil
}

func cmdDatasets(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("datasets", stderr, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, d := range flow.Datasets() {
		cond := ""
		if d.Context > 0 {
			cond = fmt.Sprintf(" [conditional: the last %d columns are the context]", d.Context)
			if d.Context == 1 {
				cond = " [conditional: the last column is the context]"
			}
		}
		fmt.Fprintf(stdout, "%-13s %s%s\n", d.Name, d.Description, cond)
	}
	return nil
}
