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
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
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
	bins       int
	bound      float64
	seed       uint64
	residual   int
	// lu, actnorm and batchnorm add an LU-factored linear layer, an
	// ActNorm layer and a BatchNorm layer to every coupling or MAF layer
	// (glowSteps); fit's flags alone.
	lu, actnorm, batchnorm bool
	base                   string
	components             int
}

func (o *modelOptions) register(fs *flag.FlagSet, layers int, hidden string) {
	fs.StringVar(&o.kind, "model", "realnvp", "the flow: realnvp (affine coupling layers), nsf (rational-quadratic spline coupling layers), maf (masked autoregressive) or nsf-ar (masked autoregressive with spline layers)")
	fs.IntVar(&o.layers, "layers", layers, "number of flow layers")
	fs.StringVar(&o.hidden, "hidden", hidden, "hidden layer widths of each conditioner, comma-separated")
	fs.StringVar(&o.activation, "act", "tanh", "activation of the hidden layers: tanh or relu")
	fs.Float64Var(&o.clamp, "clamp", 3, "soft clamp of the log-scales (0: none; realnvp and maf)")
	fs.IntVar(&o.bins, "bins", 8, "number of spline bins K (nsf and nsf-ar)")
	fs.Float64Var(&o.bound, "bound", 3, "half-width B of the interval [-B, B] of the standardised data the splines cover (nsf and nsf-ar)")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed (initial weights, data split, shuffling, sampling)")
	fs.IntVar(&o.residual, "residual", 0, "residual blocks R of each conditioner, all of the one -hidden width: residual networks in realnvp and nsf, residual MADEs in maf and nsf-ar (0: plain networks)")
	fs.StringVar(&o.base, "base", "normal", "the base distribution, trained with the layers: normal (the standard normal, fixed), diag (a diagonal Gaussian), mog (a mixture of -components diagonal Gaussians) or cdiag (a diagonal Gaussian whose mean and log-std are affine in the context, for a conditional flow)")
	fs.IntVar(&o.components, "components", 8, "number of mixture components K (-base mog)")
}

// newBase returns the base distribution of -base for data of d columns
// with a context of c columns; an empty base, modelOptions' zero value, is
// the standard normal.
func (o *modelOptions) newBase(d, c int) (flow.Base, error) {
	switch o.base {
	case "", "normal":
		return flow.NewStdNormalBase(d)
	case "diag":
		return flow.NewDiagGaussianBase(d)
	case "mog":
		// -components is read by -base mog alone.
		if o.components < 1 || o.components > maxComponents {
			return nil, usageError{fmt.Sprintf("-components: %d, want 1 to %d", o.components, maxComponents)}
		}
		return flow.NewMixtureBase(d, o.components, o.seed)
	case "cdiag":
		if c == 0 {
			return nil, usageError{"-base cdiag: the base is conditional and needs a context (fit -context, or a conditional data set)"}
		}
		return flow.NewConditionalGaussianBase(flow.ConditionalGaussianBaseConfig{Dim: d, ContextDim: c})
	}
	return nil, usageError{fmt.Sprintf("-base: %q is not normal, diag, mog or cdiag", o.base)}
}

// maxComponents is the limit of -components: enough for any use, small
// enough that the mixture's size is never the problem.
const maxComponents = 4096

// build returns a new flow for data of d columns with a context of c
// columns (0: an unconditional flow). When std is not nil it becomes the
// last (data-side) layer, so that the other layers see standardised data;
// the context is not standardised.
func (o *modelOptions) build(d, c int, std *flow.Standardize) (*flow.Flow, error) {
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
	if err := o.checkResidual(hidden); err != nil {
		return nil, err
	}
	var layers []flow.Layer
	switch o.kind {
	case "realnvp":
		if d < 2 {
			return nil, fmt.Errorf("-model realnvp needs at least 2 columns, the data has %d (use -model maf)", d)
		}
		f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: d, Layers: o.layers, Hidden: hidden, Activation: act,
			Clamp: o.clamp, EvenOdd: d > 2, Seed: o.seed, ContextDim: c, ResidualBlocks: o.residual})
		if err != nil {
			return nil, err
		}
		layers = f.Layers()
	case "maf":
		layers, err = mafLayers(d, c, o.layers, hidden, o.residual, act, o.clamp, o.seed)
		if err != nil {
			return nil, err
		}
	case "nsf", "nsf-ar":
		// -bins and -bound are read by the spline flows alone, and -clamp
		// by neither: a spline has no scale to clamp.
		if o.bins < 1 || o.bins > maxBins {
			return nil, usageError{fmt.Sprintf("-bins: %d, want 1 to %d (K bins of the minimum width 1e-3 must fit)", o.bins, maxBins)}
		}
		if !(o.bound >= minBound && o.bound <= maxBound) {
			return nil, usageError{fmt.Sprintf("-bound: %v, want a number in [%g, %g]", o.bound, minBound, maxBound)}
		}
		if o.kind == "nsf-ar" {
			layers, err = nsfARLayers(d, c, o.layers, hidden, o.residual, act, o.bins, o.bound, o.seed)
			if err != nil {
				return nil, err
			}
			break
		}
		if d < 2 {
			return nil, fmt.Errorf("-model nsf needs at least 2 columns, the data has %d (use -model maf)", d)
		}
		f, err := flow.NewNSF(flow.NSFConfig{Dim: d, Layers: o.layers, Hidden: hidden, Activation: act,
			Bins: o.bins, Bound: o.bound, Seed: o.seed, ContextDim: c, ResidualBlocks: o.residual})
		if err != nil {
			return nil, err
		}
		layers = f.Layers()
	default:
		return nil, usageError{fmt.Sprintf("-model: %q is not realnvp, nsf, maf or nsf-ar", o.kind)}
	}
	if layers, err = glowSteps(d, layers, o.lu, o.actnorm, o.batchnorm); err != nil {
		return nil, err
	}
	if std != nil {
		layers = append(layers, std)
	}
	base, err := o.newBase(d, c)
	if err != nil {
		return nil, err
	}
	return flow.NewWithBase(base, layers...)
}

// The limits of -bins and -bound, those of flow.NewRQSpline: K bins of the
// minimum width 1e-3 must leave room, K·1e-3 < 1, and B is in
// [1e-100, 1e100].
const (
	maxBins            = 999
	minBound, maxBound = 1e-100, 1e100
)

// trainOptions configure training.
type trainOptions struct {
	epochs, batch, patience, workers, warmup int
	lr, valid, clip, decay, dropout          float64
	cosine                                   bool
	precision                                string
}

func (o *trainOptions) register(fs *flag.FlagSet, epochs, batch int, lr float64) {
	fs.IntVar(&o.epochs, "epochs", epochs, "maximum number of passes over the training data")
	fs.IntVar(&o.batch, "batch", batch, "minibatch size")
	fs.Float64Var(&o.lr, "lr", lr, "Adam's learning rate")
	fs.Float64Var(&o.valid, "valid", 0.1, "fraction of the data held out for validation and early stopping")
	fs.IntVar(&o.patience, "patience", 20, "stop after this many epochs without a better validation loss (0: never)")
	fs.IntVar(&o.workers, "workers", 0, "goroutines (0: GOMAXPROCS); the result does not depend on it")
	fs.BoolVar(&o.cosine, "cosine", false, "anneal the learning rate to zero over the run by a cosine")
	fs.IntVar(&o.warmup, "warmup", 0, "steps of linear learning-rate warm-up (0: none)")
	fs.Float64Var(&o.clip, "clip", 0, "clip each step's gradient to this Euclidean norm (0: no clipping)")
	fs.Float64Var(&o.decay, "weight-decay", 0, "AdamW's decoupled weight decay")
	fs.Float64Var(&o.dropout, "dropout", 0, "dropout probability in the residual blocks during training (0: none; needs -residual, or a model with residual blocks)")
	registerPrecision(fs, &o.precision, "train")
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
	case o.warmup < 0:
		return usageError{fmt.Sprintf("-warmup: %d, want at least 0", o.warmup)}
	case !(o.clip >= 0) || math.IsInf(o.clip, 0):
		return usageError{fmt.Sprintf("-clip: %v, want a number ≥ 0", o.clip)}
	case !(o.decay >= 0) || math.IsInf(o.decay, 0):
		return usageError{fmt.Sprintf("-weight-decay: %v, want a number ≥ 0", o.decay)}
	case !(o.dropout >= 0 && o.dropout < 1):
		return usageError{fmt.Sprintf("-dropout: %v, want a probability in [0, 1)", o.dropout)}
	}
	if _, err := flow.ParsePrecision(o.precision); err != nil {
		return usageError{fmt.Sprintf("-precision: %q, want f64 or f32", o.precision)}
	}
	return nil
}

// hasResidualBlocks says whether a layer of f has residual blocks whose
// units dropout can drop: a coupling with a residual conditioner or a MAF
// layer with a residual MADE (not one wrapped by an inverse).
func hasResidualBlocks(f *flow.Flow) bool {
	for _, l := range f.Layers() {
		switch l := l.(type) {
		case *flow.Coupling:
			if l.ResidualBlocks() > 0 {
				return true
			}
		case *flow.MAF:
			if l.MADE().ResidualBlocks() > 0 {
				return true
			}
		}
	}
	return false
}

// splitIndex shuffles 0, …, n−1 with seed and returns the training and the
// validation rows: round(frac·n) of them held out, at least one when frac
// is positive. It returns an error when that leaves no training row.
func splitIndex(n int, frac float64, seed uint64) (train, valid []int, err error) {
	nValid := int(math.Round(frac * float64(n)))
	if frac > 0 && nValid == 0 {
		nValid = 1
	}
	if n-nValid < 1 {
		return nil, nil, fmt.Errorf("%s leave no training rows after holding out %d for validation (-valid %v)", count(n, "row"), nValid, frac)
	}
	idx := rand.New(rand.NewPCG(seed, 0x5b11)).Perm(n)
	return idx[nValid:], idx[:nValid], nil
}

// pickRows returns the rows idx of x, or nil if idx is empty.
func pickRows(x *mat.Dense, idx []int) *mat.Dense {
	if len(idx) == 0 {
		return nil
	}
	_, d := x.Dims()
	m := mat.NewDense(len(idx), d, nil)
	for i, k := range idx {
		m.SetRow(i, x.RawRowView(k))
	}
	return m
}

// count returns "1 row", "2 rows" and so on.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// train fits f to the rows of trainRows, scoring validRows (nil: none)
// before the first epoch and after each, and prints one progress line per
// epoch to w. For a conditional flow trainC and validC hold the rows'
// contexts; they are nil for an unconditional one.
func train(ctx context.Context, f *flow.Flow, trainRows, validRows, trainC, validC *mat.Dense, o trainOptions, seed uint64, w io.Writer) (*flow.Result, error) {
	if o.dropout > 0 && !hasResidualBlocks(f) {
		return nil, usageError{"-dropout: the model has no residual blocks whose units it could drop (use -residual R, or -init a model with residual blocks)"}
	}
	nTrain, _ := trainRows.Dims()
	nValid := 0
	best := math.Inf(1)
	if validRows != nil {
		nValid, _ = validRows.Dims()
	}
	in := ""
	if mustPrecision(o.precision) == flow.Float32 {
		in = ", in float32"
	}
	fmt.Fprintf(w, "training on %s (%d held out for validation), %d parameters%s\n", count(nTrain, "row"), nValid, f.NumParams(), in)
	if validRows != nil {
		// The library scores the untrained flow too (Result.InitialLoss);
		// scoring it here as well lets the progress lines mark only the
		// epochs that beat it.
		initial, _ := meanSE(f.LogProbGiven(nil, validRows, matOrNil(validC)))
		fmt.Fprintf(w, "untrained model: valid NLL %s\n", nll(-initial))
		if -initial < best {
			best = -initial
		}
	}
	cfg := flow.TrainConfig{
		Epochs: o.epochs, BatchSize: o.batch, LearningRate: o.lr,
		Patience: o.patience, Seed: seed, Workers: o.workers,
		CosineDecay: o.cosine, WarmupSteps: o.warmup, ClipNorm: o.clip, WeightDecay: o.decay,
		Dropout:   o.dropout,
		Context:   matOrNil(trainC),
		Precision: mustPrecision(o.precision),
		Progress: func(p flow.Progress) {
			left := time.Duration(float64(p.Elapsed) / float64(p.Epoch) * float64(p.Epochs-p.Epoch))
			valid, mark, skipped := "", "", ""
			if !math.IsNaN(p.ValidLoss) {
				valid = "  valid NLL " + nll(p.ValidLoss)
				if p.ValidLoss < best {
					best, mark = p.ValidLoss, " *"
				}
			}
			if p.Skipped > 0 {
				skipped = fmt.Sprintf("  (%s skipped: non-finite loss)", count(p.Skipped, "step"))
			}
			fmt.Fprintf(w, "epoch %4d/%d  train NLL %s%s  %7.0f samples/s  left ≤ %s%s%s\n",
				p.Epoch, p.Epochs, nll(p.TrainLoss), valid, p.SamplesPerSec, left.Round(time.Second), mark, skipped)
		},
	}
	if validRows != nil {
		cfg.Validation = validRows
		cfg.ValidationContext = matOrNil(validC)
	}
	return flow.FitContext(ctx, f, trainRows, cfg)
}

// nll formats a negative log-likelihood in 8 columns: 4 decimals, or 4
// digits with an exponent when it is that large.
func nll(v float64) string {
	if math.Abs(v) >= 1e6 && !math.IsInf(v, 0) {
		return fmt.Sprintf("%8.3e", v)
	}
	return fmt.Sprintf("%8.4f", v)
}

// readData reads the CSV file name, saying on w what it is reading and,
// when done, what it read and how long that took.
func readData(name string, w io.Writer) (*mat.Dense, []string, error) {
	if name == "-" {
		fmt.Fprintln(w, "reading standard input")
	} else if st, err := os.Stat(name); err == nil && st.Mode().IsRegular() {
		fmt.Fprintf(w, "reading %s (%s)\n", name, byteSize(st.Size()))
	}
	t0 := time.Now()
	data, header, err := readCSV(name)
	if err != nil {
		return nil, nil, err
	}
	n, d := data.Dims()
	fmt.Fprintf(w, "read %s × %s in %.2fs\n", count(n, "row"), count(d, "column"), time.Since(t0).Seconds())
	return data, header, nil
}

// byteSize writes n bytes in B, kB, MB or GB.
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

// bestModel describes the parameters a training run ended with.
func bestModel(res *flow.Result) string {
	s := fmt.Sprintf("epoch %d", res.BestEpoch)
	if res.BestEpoch == 0 {
		s = "the untrained model"
	}
	if !math.IsNaN(res.BestLoss) {
		s += fmt.Sprintf(", validation NLL %.4f", res.BestLoss)
	}
	return s
}

// tuning suggests what to change after a run that diverged or never
// improved.
func tuning(mo modelOptions, to trainOptions) string {
	s := fmt.Sprintf("try a lower -lr (this run: %v)", to.lr)
	if mo.clamp > 0 {
		return s + fmt.Sprintf(" or a smaller -clamp (this run: %v)", mo.clamp)
	}
	return s + " or a -clamp on the log-scales, such as 3"
}

func cmdFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fit", stderr, "-in data.csv [flags] -out model.json")
	var mo modelOptions
	var to trainOptions
	mo.register(fs, 8, "64,64")
	to.register(fs, 200, 256, 1e-3)
	in := fs.String("in", "", "training data, CSV with one sample per row (- for standard input)")
	out := fs.String("out", "model.json", "where to write the model (- for standard output)")
	std := fs.Bool("standardize", true, "standardise each data column (stored in the model as its last layer; not the context)")
	ctxSpec := fs.String("context", "", "fit a conditional density p(x | c): the number of last columns that hold the context c, or their names in the header, comma-separated")
	initModel := fs.String("init", "", "resume from this model file: train its parameters further (its layers, standardisation and base are kept, so the model flags, -standardize and -base must not be given)")
	recipeName := mo.registerSteps(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return usageError{"-in: no data file given"}
	}
	if *initModel != "" {
		if *recipeName != "" {
			return usageError{"-init: the model file gives the model; give -recipe's training flags (-lr, -batch, -cosine, -clip, …) yourself"}
		}
		if err := refuseModelFlags(fs); err != nil {
			return err
		}
	}
	if err := applyRecipe(fs, *recipeName, stderr); err != nil {
		return err
	}
	if err := to.check(); err != nil {
		return err
	}
	spec, err := parseContextSpec(*ctxSpec)
	if err != nil {
		return err
	}
	if err := refuseSame("-in", *in, *out); err != nil {
		return err
	}
	// A mistyped output directory fails now, not after the training.
	if err := checkOutput(*out); err != nil {
		return fmt.Errorf("-out %s: %w", *out, err)
	}
	data, header, err := readData(*in, stderr)
	if err != nil {
		return err
	}
	n, cols := data.Dims()
	x, xCols := data, []int(nil)
	var c *mat.Dense
	var cCols []int
	if spec.isSet() {
		if xCols, cCols, err = spec.split(*in, cols, header); err != nil {
			return err
		}
		x, c = columns(data, xCols), columns(data, cCols)
		fmt.Fprintf(stderr, "the data: %s; the context: %s\n", describeCols(xCols, header), describeCols(cCols, header))
	}
	_, d := x.Dims()
	if n < 2 {
		return fmt.Errorf("%s: %s of data: too few to fit a density", *in, count(n, "row"))
	}
	ti, vi, err := splitIndex(n, to.valid, mo.seed)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	trainRows, validRows := pickRows(x, ti), pickRows(x, vi)
	var trainC, validC *mat.Dense
	if c != nil {
		trainC, validC = pickRows(c, ti), pickRows(c, vi)
		for _, w := range contextWarnings(trainC, colLabels(cCols, header)) {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	var f *flow.Flow
	if *initModel != "" {
		if f, err = resumeModel(*initModel, *in, d, len(cCols)); err != nil {
			return err
		}
	} else {
		var s *flow.Standardize
		if *std {
			if s, err = flow.StandardizeData(trainRows); err != nil {
				return err
			}
		}
		if f, err = mo.build(d, len(cCols), s); err != nil {
			return err
		}
	}
	// ActNorm layers not yet initialised (-actnorm's, or a resumed
	// model's) are initialised on all the training rows.
	if err := initActNorm(f, trainRows, trainC, stderr); err != nil {
		return err
	}
	if header != nil {
		names, cnames := header, []string(nil)
		if c != nil {
			names, cnames = pick(header, xCols), pick(header, cCols)
		}
		if m := f.Names(); *initModel != "" && m != nil && !slices.Equal(m, names) {
			return fmt.Errorf("-init %s: the model's columns are %s, %s's %s", *initModel, strings.Join(m, ","), *in, strings.Join(names, ","))
		}
		if err := f.SetNames(names); err != nil {
			return fmt.Errorf("%s: the header cannot name the model's columns: %w", *in, err)
		}
		if err := f.SetContextNames(cnames); err != nil {
			return fmt.Errorf("%s: the header cannot name the model's context: %w", *in, err)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train(ctx, f, trainRows, validRows, trainC, validC, to, mo.seed, stderr)
	switch {
	case res == nil:
		return err
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Ctrl-C or SIGTERM: the flow holds the best parameters so far.
		if err := saveModel(*out, stdout, f); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "interrupted after %s: saved the best model so far (%s) to %s\n", count(res.Epochs, "epoch"), bestModel(res), *out)
		return errInterrupted
	case errors.Is(err, flow.ErrNonFinite):
		if err := saveModel(*out, stdout, f); err != nil {
			return err
		}
		return fmt.Errorf("training diverged in epoch %d: the loss or its gradient stopped being finite (%s skipped); saved the best model (%s) to %s; %s",
			res.Epochs+1, count(res.Skipped, "step"), bestModel(res), *out, tuning(mo, to))
	case err != nil:
		return err
	}
	if err := saveModel(*out, stdout, f); err != nil {
		return err
	}
	if k := countBatchNorm(f); k > 0 {
		fmt.Fprintf(stderr, "set the statistics of %s to the mean and variance of their inputs over the %s, for evaluation\n", count(k, "BatchNorm layer"), count(len(ti), "training row"))
	}
	fmt.Fprintf(stderr, "wrote %s: %s; best: %s\n", *out, count(res.Epochs, "epoch"), bestModel(res))
	if res.Skipped > 0 {
		fmt.Fprintf(stderr, "%s skipped for a non-finite loss or gradient\n", count(res.Skipped, "step"))
	}
	if validRows == nil {
		fmt.Fprintln(stderr, "no rows held out (-valid 0): no held-out comparison with a Gaussian")
		return nil
	}
	if res.BestEpoch == 0 && (math.IsNaN(res.BestLoss) || math.IsInf(res.BestLoss, 0)) {
		return fmt.Errorf("the validation NLL was never finite (a held-out row has log p = −∞ under every model tried: an outlier?); "+
			"saved the untrained model to %s; check the data, or hold out none with -valid 0", *out)
	}
	if res.BestEpoch == 0 {
		fmt.Fprintf(stderr, "no epoch improved on the untrained model: saved the untrained model (validation NLL %.4f); %s\n", res.BestLoss, tuning(mo, to))
	}
	heldOutReport(stderr, f, trainRows, validRows, trainC, validC)
	return nil
}

// modelFlags are the flags that describe a new model, which -init's model
// file describes instead.
var modelFlags = []string{"model", "layers", "hidden", "act", "clamp", "bins", "bound", "standardize", "lu", "actnorm", "batchnorm", "base", "components", "residual"}

// refuseModelFlags returns a usage error if a flag that describes a new
// model was given with -init.
func refuseModelFlags(fs *flag.FlagSet) error {
	var set []string
	fs.Visit(func(f *flag.Flag) {
		for _, m := range modelFlags {
			if f.Name == m {
				set = append(set, "-"+m)
			}
		}
	})
	if len(set) > 0 {
		return usageError{fmt.Sprintf("-init: the model file gives the layers, the standardisation and the base; %s cannot change them", strings.Join(set, ", "))}
	}
	return nil
}

// resumeModel loads the model file name to train it further on the data
// file in, of d data and c context columns.
func resumeModel(name, in string, d, c int) (*flow.Flow, error) {
	f, err := loadModel(name)
	if err != nil {
		return nil, err
	}
	if f.Dim() != d || f.ContextDim() != c {
		return nil, fmt.Errorf("-init %s: the model has dimension %d and context %d, %s has %d data and %d context columns", name, f.Dim(), f.ContextDim(), in, d, c)
	}
	return f, nil
}

// describeCols writes the columns idx, counted from 0, of a table with the
// header (nil if none) for a message: columns 1,2 ("a", "b").
func describeCols(idx []int, header []string) string {
	s := "column"
	if len(idx) > 1 {
		s += "s"
	}
	s += " " + joinInts(idx, 1)
	if header != nil {
		q := make([]string, len(idx))
		for i, j := range idx {
			q[i] = strconv.Quote(header[j])
		}
		s += " (" + strings.Join(q, ", ") + ")"
	}
	return s
}

// colLabels names the columns idx, counted from 0, of a table with the
// header (nil if none) one by one: "a" (column 3), or column 3.
func colLabels(idx []int, header []string) []string {
	s := make([]string, len(idx))
	for i, j := range idx {
		s[i] = fmt.Sprintf("column %d", j+1)
		if header != nil {
			s[i] = fmt.Sprintf("%q (column %d)", header[j], j+1)
		}
	}
	return s
}

// heldOutReport prints the flow's and the reference Gaussian's negative
// log-likelihoods of the validation rows, the Gaussian fitted to the
// training rows. For a conditional flow (trainC and validC hold the rows'
// contexts) the reference is the best Gaussian of x given c whose mean is
// linear in c (see condGaussian), and the likelihoods are given the
// context; otherwise it is the best full-covariance Gaussian.
func heldOutReport(w io.Writer, f *flow.Flow, trainRows, validRows, trainC, validC *mat.Dense) {
	nTrain, _ := trainRows.Dims()
	nValid, _ := validRows.Dims()
	pm := func(v, se float64) string {
		if math.IsNaN(se) {
			return fmt.Sprintf("%8.4f", v)
		}
		return fmt.Sprintf("%8.4f ± %.4f", v, se)
	}
	lf, sf := meanSE(f.LogProbGiven(nil, validRows, matOrNil(validC)))
	given, what := "", "the best full-covariance Gaussian of the training rows"
	if trainC != nil {
		given, what = ", each given its context", "the best Gaussian of x given c with a mean linear in c, N(a + Bc, Σ), of the training rows"
	}
	fmt.Fprintf(w, "held-out NLL (mean −log p over the %s%s, nats per row; lower is better):\n", count(nValid, "validation row"), given)
	fmt.Fprintf(w, "  flow      %s\n", pm(-lf, sf))
	var lp []float64
	if trainC != nil {
		g, err := fitCondGaussian(trainRows, trainC)
		if err != nil {
			fmt.Fprintf(w, "  Gaussian  none: no Gaussian of the data and context fits the %s (%v)\n", count(nTrain, "training row"), err)
			return
		}
		lp = g.logProb(validRows, validC)
	} else {
		g, err := flow.FitGaussian(trainRows)
		if err != nil {
			fmt.Fprintf(w, "  Gaussian  none: no full-covariance Gaussian fits the %s (%v)\n", count(nTrain, "training row"), err)
			return
		}
		lp = g.LogProb(nil, validRows)
	}
	lg, sg := meanSE(lp)
	fmt.Fprintf(w, "  Gaussian  %s  (%s)\n", pm(-lg, sg), what)
	switch diff := lf - lg; {
	case diff >= 0:
		fmt.Fprintf(w, "  the flow is better by %.4f nats per row\n", diff)
	default:
		fmt.Fprintf(w, "  the flow is worse by %.4f nats per row\n", -diff)
	}
}
