// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// modelOptions say which flow to build.
type modelOptions struct {
	kind       string
	layers     int
	hidden     string
	activation string
	clamp      float64
	seed       uint64
}

func (o *modelOptions) register(fs *flag.FlagSet, layers int, hidden string) {
	fs.StringVar(&o.kind, "model", "realnvp", "the flow: realnvp (affine coupling layers) or maf (masked autoregressive)")
	fs.IntVar(&o.layers, "layers", layers, "number of flow layers")
	fs.StringVar(&o.hidden, "hidden", hidden, "hidden layer widths of each conditioner, comma-separated")
	fs.StringVar(&o.activation, "act", "tanh", "activation of the hidden layers: tanh or relu")
	fs.Float64Var(&o.clamp, "clamp", 3, "soft clamp of the log-scales (0: none)")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed (initial weights, data split, shuffling, sampling)")
}

// build returns a new flow for data of d columns. When std is not nil it
// becomes the last (data-side) layer, so that the other layers see
// standardised data.
func (o *modelOptions) build(d int, std *flow.Standardize) (*flow.Flow, error) {
	hidden, err := parseInts("hidden", o.hidden)
	if err != nil {
		return nil, err
	}
	var act flow.Activation
	switch o.activation {
	case "tanh":
		act = flow.Tanh
	case "relu":
		act = flow.ReLU
	default:
		return nil, usageError{fmt.Sprintf("-act: %q is neither tanh nor relu", o.activation)}
	}
	if o.layers < 1 {
		return nil, usageError{fmt.Sprintf("-layers: %d, want at least 1", o.layers)}
	}
	if !(o.clamp >= 0) || math.IsInf(o.clamp, 0) {
		return nil, usageError{fmt.Sprintf("-clamp: %v, want a finite number ≥ 0", o.clamp)}
	}
	var layers []flow.Layer
	switch o.kind {
	case "realnvp":
		if d < 2 {
			return nil, fmt.Errorf("-model realnvp needs at least 2 columns, the data has %d (use -model maf)", d)
		}
		f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: d, Layers: o.layers, Hidden: hidden, Activation: act,
			Clamp: o.clamp, EvenOdd: d > 2, Seed: o.seed})
		if err != nil {
			return nil, err
		}
		layers = f.Layers()
	case "maf":
		layers, err = mafLayers(d, o.layers, hidden, act, o.clamp, o.seed)
		if err != nil {
			return nil, err
		}
	default:
		return nil, usageError{fmt.Sprintf("-model: %q is neither realnvp nor maf", o.kind)}
	}
	if std != nil {
		layers = append(layers, std)
	}
	return flow.New(layers...)
}

// trainOptions configure training.
type trainOptions struct {
	epochs, batch, patience, workers int
	lr, valid                        float64
}

func (o *trainOptions) register(fs *flag.FlagSet, epochs, batch int, lr float64) {
	fs.IntVar(&o.epochs, "epochs", epochs, "maximum number of passes over the training data")
	fs.IntVar(&o.batch, "batch", batch, "minibatch size")
	fs.Float64Var(&o.lr, "lr", lr, "Adam's learning rate")
	fs.Float64Var(&o.valid, "valid", 0.1, "fraction of the data held out for validation and early stopping")
	fs.IntVar(&o.patience, "patience", 20, "stop after this many epochs without a better validation loss (0: never)")
	fs.IntVar(&o.workers, "workers", 0, "goroutines (0: GOMAXPROCS); the result does not depend on it")
}

func (o *trainOptions) check() error {
	switch {
	case o.epochs < 1:
		return usageError{fmt.Sprintf("-epochs: %d, want at least 1", o.epochs)}
	case o.batch < 1:
		return usageError{fmt.Sprintf("-batch: %d, want at least 1", o.batch)}
	case !(o.lr > 0) || math.IsInf(o.lr, 0):
		return usageError{fmt.Sprintf("-lr: %v, want a positive number", o.lr)}
	case !(o.valid >= 0 && o.valid < 1):
		return usageError{fmt.Sprintf("-valid: %v, want a fraction in [0, 1)", o.valid)}
	case o.patience < 0:
		return usageError{fmt.Sprintf("-patience: %d, want at least 0", o.patience)}
	}
	return nil
}

// train fits f to data, printing one progress line per epoch to w.
func train(ctx context.Context, f *flow.Flow, data *mat.Dense, o trainOptions, seed uint64, w io.Writer) (*flow.Result, error) {
	n, _ := data.Dims()
	fmt.Fprintf(w, "training on %d rows (%d held out for validation), %d parameters\n",
		n-int(math.Round(o.valid*float64(n))), int(math.Round(o.valid*float64(n))), f.NumParams())
	best := math.Inf(1)
	return flow.FitContext(ctx, f, data, flow.TrainConfig{
		Epochs: o.epochs, BatchSize: o.batch, LearningRate: o.lr, ValidationFraction: o.valid,
		Patience: o.patience, Seed: seed, Workers: o.workers,
		Progress: func(p flow.Progress) {
			left := time.Duration(float64(p.Elapsed) / float64(p.Epoch) * float64(p.Epochs-p.Epoch))
			valid, mark := "", ""
			if !math.IsNaN(p.ValidLoss) {
				valid = fmt.Sprintf("  valid NLL %8.4f", p.ValidLoss)
				if p.ValidLoss < best {
					best, mark = p.ValidLoss, " *"
				}
			}
			fmt.Fprintf(w, "epoch %4d/%d  train NLL %8.4f%s  %7.0f samples/s  left ≤ %s%s\n",
				p.Epoch, p.Epochs, p.TrainLoss, valid, p.SamplesPerSec, left.Round(time.Second), mark)
		},
	})
}

func cmdFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fit", stderr, "-in data.csv [flags] -out model.json")
	var mo modelOptions
	var to trainOptions
	mo.register(fs, 8, "64,64")
	to.register(fs, 200, 256, 1e-3)
	in := fs.String("in", "", "training data, CSV with one sample per row (- for standard input)")
	out := fs.String("out", "model.json", "where to write the model")
	std := fs.Bool("standardize", true, "standardise each column (stored in the model as its last layer)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return usageError{"-in: no data file given"}
	}
	if err := to.check(); err != nil {
		return err
	}
	data, _, err := readCSV(*in)
	if err != nil {
		return err
	}
	n, d := data.Dims()
	if n < 2 {
		return fmt.Errorf("%s: %d row of data: too few to fit a density", *in, n)
	}
	var s *flow.Standardize
	if *std {
		if s, err = flow.StandardizeData(data); err != nil {
			return err
		}
	}
	f, err := mo.build(d, s)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train(ctx, f, data, to, mo.seed, stderr)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// Ctrl-C: FitContext restored the best parameters so far.
		if err := saveModel(*out, stdout, f); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "interrupted after %d epochs: saved the best model so far (epoch %d) to %s\n", res.Epochs, res.BestEpoch, *out)
		return errInterrupted
	}
	if err != nil {
		return err
	}
	if err := saveModel(*out, stdout, f); err != nil {
		return err
	}
	last := res.History[len(res.History)-1]
	msg := fmt.Sprintf("wrote %s: %d epochs, best epoch %d", *out, res.Epochs, res.BestEpoch)
	if !math.IsNaN(last.ValidLoss) {
		msg += fmt.Sprintf(", validation NLL %.4f", res.History[res.BestEpoch-1].ValidLoss)
	}
	fmt.Fprintln(stderr, msg)
	return nil
}
