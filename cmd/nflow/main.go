// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Command nflow fits, samples and evaluates normalizing flows.
//
// Usage:
//
//	nflow demo [-data moons] [-out nflow-demo]
//	nflow fit -in data.csv [-model realnvp|maf] [-layers 8] [-hidden 64,64] [-epochs 200] … -out model.json
//	nflow sample -model model.json -n 1000 [-seed 1] [-out samples.csv]
//	nflow logprob -model model.json -in data.csv [-out logp.csv]
//	nflow plot -model model.json -out model.png
//	nflow datasets
//
// Data files are CSV, one sample per row, with or without a header line.
// Models are JSON documents in the format of FORMAT.md. Output files are
// written atomically: a failed or interrupted command leaves no partial
// file. Errors go to standard error with exit status 1 (2 for a bad
// command line).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nfgo/flow"
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

Run "nflow COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"demo":     cmdDemo,
		"fit":      cmdFit,
		"sample":   cmdSample,
		"logprob":  cmdLogProb,
		"plot":     cmdPlot,
		"datasets": cmdDatasets,
	}
	name := args[0]
	if name == "-h" || name == "-help" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "nflow: unknown command %q\n\n%s", name, usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nflow %s: %v\n", name, err)
		return 2
	case errors.Is(err, errInterrupted):
		return 130
	}
	fmt.Fprintf(stderr, "nflow %s: %v\n", name, err)
	return 1
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
		fmt.Fprintf(stdout, "%-13s %s\n", d.Name, d.Description)
	}
	return nil
}
