// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
)

// DefaultShardSize is the number of rows of a minibatch that one goroutine
// differentiates at a time when no shard size is given.
const DefaultShardSize = 128

// gradEval is what both objectives share: the flow, per-runner workspaces,
// per-shard gradients and losses, and their reduction in shard order.
type gradEval struct {
	runState
	f       *Flow
	shard   int
	workers int
	ws      []*workspace // per runner
	grads   [][]float64  // per shard
	losses  []float64    // per shard
	n       int
	src     []float64
	ctx     []float64         // the rows' contexts, n×C, or nil
	target  Target            // reverse KL only
	ctarget ConditionalTarget // amortised reverse KL only
	sum     sumJob[float64]
	packs   prepackJob
	// dirty is set while a call's shards may have written their gradient
	// vectors: the shards add into zeroed vectors, which the sum zeroes
	// again as it reads them (sumJob.zero), so a call clears them itself
	// only after one that did not finish.
	dirty bool
	bn    *bnTrain     // maximum likelihood on a flow with BatchNorm layers: the staged pass, or nil
	drop  dropSchedule // maximum likelihood only
}

func newGradEval(f *Flow, workers, shard int) gradEval {
	if shard <= 0 {
		shard = DefaultShardSize
	}
	return gradEval{f: f, shard: shard, workers: workers}
}

// prepare sizes the buffers for n rows and returns the number of shards and
// runners.
func (g *gradEval) prepare(n int) (shards, runners int) {
	shards = (n + g.shard - 1) / g.shard
	runners = workersFor(g.workers, shards)
	// One workspace per runner, or per shard for the staged pass of a flow
	// with BatchNorm layers (bnTrain).
	need := runners
	if g.bn != nil {
		g.bn.prepare(g.f.d, shards)
		need = shards
	}
	for len(g.ws) < need {
		g.ws = append(g.ws, g.f.newWorkspace(g.shard))
	}
	for len(g.grads) < shards {
		g.grads = append(g.grads, make([]float64, g.f.NumParams()))
		g.losses = append(g.losses, 0)
	}
	return shards, runners
}

// runShard computes shard s's summed loss and its gradient into the shard's
// own buffers: maximum likelihood through Inverse, or, with a target,
// reverse KL through Forward.
func (g *gradEval) runShard(r, s int) {
	if g.bn != nil {
		bnRunShard[float64](g.bn, g, g.f, s, g.n)
		return
	}
	lo := s * g.shard
	hi := min(lo+g.shard, g.n)
	d := g.f.d
	ws := g.ws[r]
	grad := g.grads[s] // zero: see gradEval.dirty
	var ctx []float64
	if g.ctx != nil {
		ctx = g.ctx[lo*g.f.c : hi*g.f.c]
	}
	switch {
	case g.ctarget != nil:
		g.f.drawPass(ws, g.src[lo*d:hi*d], ctx, hi-lo)
		g.losses[s] = g.f.klBackwardGiven(ws, hi-lo, g.ctarget, grad, nil)
	case g.target != nil:
		g.f.drawPass(ws, g.src[lo*d:hi*d], ctx, hi-lo)
		g.losses[s] = g.f.klBackward(ws, hi-lo, g.target, grad, nil)
	default:
		// The shard's dropout reaches the layers through its workspace:
		// the step and the minibatch index of its first row, so that the
		// masks do not depend on the runner (docs/design.md §5).
		ws.drop = g.dropState(lo)
		g.f.inversePass(ws, g.src[lo*d:hi*d], ctx, hi-lo)
		g.losses[s] = g.f.nllBackward(ws, hi-lo, grad, nil)
		ws.drop = dropState{}
	}
}

// prepacker is a layer whose conditioner's weights can be packed once for
// the shards of a training step (mlpPacks).
type prepacker interface {
	prepack(n int)
	unpack()
}

// prepackJob packs the conditioners of a flow's prepackers for a training
// step, one layer per job shard.
type prepackJob struct {
	runState
	layers []prepacker
	size   int // their parameters
	n      int
	found  bool // layers lists f's prepackers
}

func (j *prepackJob) runShard(_, s int) { j.layers[s].prepack(j.n) }

// prepackOff, set by the tests, makes every training step pack its own
// operands per shard and product, as evaluation does.
var prepackOff bool

// prepackMin is the least number of parameters of a flow's prepackers for
// which packing them on several goroutines pays for the hand-off to the
// pool: realnvp-tiny's 36k parameters ran a step 0.3 ms (12 %) slower on
// 2 cores with it, realnvp-small's 156k as fast. (A variable for the
// tests.)
var prepackMin = 1 << 17

// prepack packs the weights of f's prepackers for a step's shards of n rows
// on up to workers goroutines, and reports whether it did. It does not
// when there is one shard (whose products pack each matrix once anyway),
// nor when the weights are too few to pay for a hand-off to the pool.
func (j *prepackJob) prepack(f *Flow, n, shards, workers int) bool {
	if prepackOff || shards < 2 {
		return false
	}
	if !j.found {
		for _, l := range f.layers {
			if p, ok := l.(prepacker); ok {
				j.layers = append(j.layers, p)
				j.size += l.NumParams()
			}
		}
		j.found = true
	}
	w := prepackWorkers(len(j.layers), j.size, workers)
	if w == 0 {
		return false
	}
	j.n = n
	runShards(j, &j.runState, len(j.layers), w)
	return true
}

// prepackWorkers returns the goroutines that pack the weights of layers
// prepackers of size parameters in all, on up to workers, or 0 when
// packing them once for the step does not pay: none to pack, or too few
// weights to pay for a hand-off to the pool.
func prepackWorkers(layers, size, workers int) int {
	w := workersFor(workers, layers)
	if layers == 0 || w > 1 && size < prepackMin {
		return 0
	}
	return w
}

// unpack drops the packed weights after the step.
func (j *prepackJob) unpack() {
	for _, l := range j.layers {
		l.unpack()
	}
}

// dropState returns the dropout of the maximum-likelihood shard whose
// first row is row lo of the minibatch (off without a dropout).
func (g *gradEval) dropState(lo int) dropState { return g.drop.state(lo) }

// lossGrad runs the shards of the rows of x, called name, with their
// contexts c (nil for an unconditional flow) on the pool and reduces them.
func (g *gradEval) lossGrad(method, name string, grad []float64, x, c mat.Matrix) float64 {
	data, n := g.f.rows(method, name, x)
	ctx := g.f.contextsOf(method, name, c, n)
	if n == 0 {
		panic("flow: " + method + ": empty batch")
	}
	if len(grad) != g.f.NumParams() {
		panic(fmt.Sprintf("flow: %s: gradient of length %d, want %d", method, len(grad), g.f.NumParams()))
	}
	g.src, g.ctx, g.n = data, ctx, n
	shards, runners := g.prepare(n)
	if g.dirty {
		// A call that did not finish (a panic in a shard) left
		// gradients in the shards' vectors.
		for _, v := range g.grads {
			clear(v)
		}
	}
	g.dirty = true
	if g.packs.prepack(g.f, min(g.shard, n), shards, g.workers) {
		defer g.packs.unpack()
	}
	if g.bn != nil {
		g.bn.lossGrad(g, &g.runState, n, g.shard, shards, runners)
	} else {
		runShards(g, &g.runState, shards, runners)
	}
	g.src, g.ctx = nil, nil
	return g.finish(grad, n, shards, runners)
}

func (g *gradEval) finish(grad []float64, n, shards, runners int) float64 {
	scale := 1 / float64(n)
	g.sum.zero = true
	g.sum.run(grad, g.grads[:shards], scale, runners)
	g.dirty = false
	loss := 0.0
	for _, l := range g.losses[:shards] {
		loss += l
	}
	return loss * scale
}

// MaxLikelihood evaluates the maximum-likelihood objective, the mean
// negative log-likelihood −(1/n) Σ_i log p(x_i), and its gradient, by
// backpropagation through Inverse. A minibatch is cut into shards of a fixed
// size that run on up to Workers goroutines; the shards' results are summed
// in shard order, so the result is bit-identical for any number of workers.
//
// A MaxLikelihood is not safe for concurrent use; it reuses its buffers, so
// that steady-state training allocates nothing.
type MaxLikelihood struct {
	gradEval
}

// NewMaxLikelihood returns the maximum-likelihood objective of f. workers ≤ 0
// means GOMAXPROCS; shardSize ≤ 0 means DefaultShardSize.
//
// BatchNorm layers of f are in training mode here: each normalises its
// input by the mean and variance of the whole minibatch, and the gradient
// flows through them (docs/design.md §1.13). The pass then runs in stages
// split at the BatchNorm layers, and the result is still bit-identical for
// any number of workers.
func NewMaxLikelihood(f *Flow, workers, shardSize int) *MaxLikelihood {
	f.check("NewMaxLikelihood")
	m := &MaxLikelihood{newGradEval(f, workers, shardSize)}
	m.bn = newBNTrain(f)
	return m
}

// LossGrad returns the mean negative log-likelihood of the rows of x and
// writes its gradient with respect to the flow's parameters into grad
// (length NumParams). It panics if x does not have D columns, or if the
// flow is conditional: see LossGradGiven.
func (m *MaxLikelihood) LossGrad(grad []float64, x mat.Matrix) float64 {
	m.f.unconditional("MaxLikelihood.LossGrad", "LossGradGiven")
	defer m.advance()
	return m.lossGrad("MaxLikelihood.LossGrad", "x", grad, x, nil)
}

// SetDropout makes the objective train with dropout of probability p
// (0 ≤ p < 1; 0, the default, is none) in the residual blocks of the
// flow's residual conditioners and residual MADEs (the couplings'
// ResidualBlocks, the MAF layers' MADEConfig.ResidualBlocks): unit k of
// the inner activation v of a block is zeroed with probability p, or kept
// and scaled by 1/(1 − p), before the block's second dense layer. The
// masks are a hash of (seed, step, layer, block, row index in the
// minibatch, unit) (see docs/design.md §1.4), so they do not depend on the
// number of goroutines. Other layers, and every evaluation (LogProb,
// Sample, Forward, Inverse, GradLogProb), have no dropout. It panics
// unless 0 ≤ p < 1.
func (m *MaxLikelihood) SetDropout(p float64, seed uint64) {
	if err := checkDropout("MaxLikelihood.SetDropout", p); err != nil {
		panic(err.Error())
	}
	m.drop.p, m.drop.seed = p, seed
}

// SetStep sets the step whose dropout masks the next call of LossGrad or
// LossGradGiven draws; each call advances it by one, so that successive
// steps draw fresh masks (it starts at 0). Setting it again gives the same
// masks again, as a finite-difference check needs.
func (m *MaxLikelihood) SetStep(step uint64) { m.drop.step = step }

// advance moves to the next step's dropout masks.
func (m *MaxLikelihood) advance() { m.drop.step++ }

// LossGradGiven returns the mean conditional negative log-likelihood
// −(1/n) Σ_i log p(x_i | c_i) of the rows of x (n×D) with their contexts,
// the rows of c (n×C), and writes its gradient with respect to the flow's
// parameters into grad (length NumParams). For an unconditional flow c may
// be nil, and LossGradGiven is LossGrad. It panics if the shapes disagree.
func (m *MaxLikelihood) LossGradGiven(grad []float64, x, c mat.Matrix) float64 {
	defer m.advance()
	return m.lossGrad("MaxLikelihood.LossGradGiven", "x", grad, x, c)
}

// ReverseKL evaluates the reverse Kullback–Leibler objective to an
// unnormalised target π, (1/n) Σ_i [log q(x_i) − log π(x_i)] with
// x_i = f(z_i) and z_i drawn from the base, and its gradient, by
// backpropagation through Forward with the base's standard normal draws
// ε_i held fixed (the reparameterisation gradient): z_i = ε_i for the
// standard normal base, z_i = μ + σ ⊙ ε_i for a DiagGaussianBase, and
// z_i = μ(c_i) + σ(c_i) ⊙ ε_i for a ConditionalGaussianBase, so that the
// gradient reaches the base's parameters too. A MixtureBase has no such
// gradient (its component draw is discrete), and the constructors panic on
// a flow with one. Its negative is the evidence lower bound, ELBO ≤ log Z.
// Sharding and determinism are as for MaxLikelihood.
type ReverseKL struct {
	gradEval
}

// checkReparam panics unless f's base has a reparameterisation gradient.
func checkReparam(method string, f *Flow) {
	f.check(method)
	if err := f.base.reparamErr(); err != nil {
		panic(fmt.Sprintf("flow: %s: %v", method, err))
	}
}

// NewReverseKL returns the reverse-KL objective of f to target. workers and
// shardSize are as for NewMaxLikelihood. It panics if f's base is a
// MixtureBase, which has no reparameterisation gradient.
func NewReverseKL(f *Flow, target Target, workers, shardSize int) *ReverseKL {
	checkReparam("NewReverseKL", f)
	r := &ReverseKL{newGradEval(f, workers, shardSize)}
	r.target = target
	return r
}

// NewReverseKLGiven returns the amortised reverse-KL objective of f to a
// conditional target π(x | c): for base draws z_i with contexts c_i,
//
//	(1/n) Σ_i [log q(x_i | c_i) − log π(x_i | c_i)],  x_i = f(z_i | c_i),
//
// whose minimiser over the contexts' distribution is the flow with
// q(· | c) = π(· | c)/Z(c) for every c. target is called with row i's x_i
// and c_i. workers and shardSize are as for NewMaxLikelihood. It panics if
// target is nil or f's base is a MixtureBase.
func NewReverseKLGiven(f *Flow, target ConditionalTarget, workers, shardSize int) *ReverseKL {
	if target == nil {
		panic("flow: NewReverseKLGiven: nil target")
	}
	checkReparam("NewReverseKLGiven", f)
	r := &ReverseKL{newGradEval(f, workers, shardSize)}
	r.ctarget = target
	return r
}

// LossGrad returns the reverse-KL loss of the base's standard normal draws
// z (one per row, the ε of ReverseKL) and writes its gradient into grad. It
// panics if the flow is conditional: see LossGradGiven.
func (k *ReverseKL) LossGrad(grad []float64, z mat.Matrix) float64 {
	k.f.unconditional("ReverseKL.LossGrad", "LossGradGiven")
	return k.lossGrad("ReverseKL.LossGrad", "z", grad, z, nil)
}

// LossGradGiven returns the reverse-KL loss of the base's standard normal
// draws z (n×D, one per row, the ε of ReverseKL) with their contexts, the rows of c (n×C), and writes its
// gradient with respect to the flow's parameters into grad. The target
// sees row i's context when the objective was made by NewReverseKLGiven;
// a Target of NewReverseKL does not depend on it. For an unconditional
// flow c may be nil, and LossGradGiven is LossGrad.
func (k *ReverseKL) LossGradGiven(grad []float64, z, c mat.Matrix) float64 {
	return k.lossGrad("ReverseKL.LossGradGiven", "z", grad, z, c)
}

// Adam is the Adam optimiser with decoupled weight decay (AdamW):
//
//	m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
//	θ ← θ − lr·( m/(1−β₁ᵗ) / (√(v/(1−β₂ᵗ)) + ε) + λθ ),
//
// computed as θ − (lr/(1−β₁ᵗ))·m / (√v·(1/√(1−β₂ᵗ)) + ε) − lr·λ·θ, with
// the step's constants formed once: one square root and one division per
// parameter.
type Adam struct {
	LearningRate float64 // lr
	Beta1, Beta2 float64 // β₁, β₂
	Epsilon      float64 // ε
	WeightDecay  float64 // λ
	adamState[float64]
}

// NewAdam returns Adam with the usual defaults (β₁ = 0.9, β₂ = 0.999,
// ε = 1e-8) and the given learning rate.
func NewAdam(lr float64) *Adam {
	return &Adam{LearningRate: lr, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8}
}

// Step updates params in place from grad. The update is elementwise, so it
// runs in chunks on the package's pool with the same result for any number
// of goroutines.
func (a *Adam) Step(params, grad []float64) {
	a.step("Adam.Step", a.LearningRate, a.Beta1, a.Beta2, a.Epsilon, a.WeightDecay, params, grad)
}

// adamState is the state of Adam (T float64) or Adam32 (float32): the
// moments, the step count and the job that runs a step on the pool.
type adamState[T kernElem] struct {
	m, v []T
	t    int
	job  adamJob[T]
}

// step takes one step of Adam with the given hyperparameters.
func (a *adamState[T]) step(method string, lr, beta1, beta2, eps, wd float64, params, grad []T) {
	if len(grad) != len(params) {
		panic(fmt.Sprintf("flow: %s: %d parameters, %d gradients", method, len(params), len(grad)))
	}
	if len(a.m) != len(params) {
		a.m = make([]T, len(params))
		a.v = make([]T, len(params))
		a.t = 0
	}
	a.t++
	a.job.a, a.job.p, a.job.g = a, params, grad
	c1 := 1 - math.Pow(beta1, float64(a.t))
	c2 := 1 - math.Pow(beta2, float64(a.t))
	a.job.c = adamConsts{beta1, 1 - beta1, beta2, 1 - beta2, lr / c1, 1 / math.Sqrt(c2), eps, lr * wd}
	n := (len(params) + sumChunk - 1) / sumChunk
	runShards(&a.job, &a.job.runState, n, workersFor(0, n))
	a.job.p, a.job.g = nil, nil
}

// adamJob is one Adam step over chunks of the parameters.
type adamJob[T kernElem] struct {
	runState
	a    *adamState[T]
	p, g []T
	c    adamConsts // the step's constants (adamRef)
}

func (j *adamJob[T]) runShard(_, s int) {
	lo := s * sumChunk
	hi := min(lo+sumChunk, len(j.p))
	if isF32[T]() {
		adamStep32(f32s(j.p[lo:hi]), f32s(j.a.m[lo:hi]), f32s(j.a.v[lo:hi]), f32s(j.g[lo:hi]), &j.c)
		return
	}
	adamStep(f64s(j.p[lo:hi]), f64s(j.a.m[lo:hi]), f64s(j.a.v[lo:hi]), f64s(j.g[lo:hi]), &j.c)
}

// TrainConfig configures Fit and FitReverseKL. Zero fields take the defaults
// given.
type TrainConfig struct {
	// Epochs is the number of passes over the training data (Fit, default
	// 100) or of blocks of StepsPerEpoch steps (FitReverseKL).
	Epochs int
	// StepsPerEpoch is the number of steps between progress reports of
	// FitReverseKL (default 100).
	StepsPerEpoch int
	// BatchSize is the minibatch size (default 256).
	BatchSize int
	// LearningRate is Adam's step size (default 1e-3); WeightDecay its
	// decoupled weight decay (default 0).
	LearningRate float64
	WeightDecay  float64
	// CosineDecay anneals the learning rate from LearningRate to zero over
	// the run: at step t of T (from 0), lr·½(1 + cos(π·t/T)).
	CosineDecay bool
	// WarmupSteps ramps the learning rate up linearly over the first steps,
	// lr·(t + 1)/W at step t < W; a cosine decay then runs over the other
	// T − W steps, lr·½(1 + cos(π·(t − W)/(T − W))) (0: no warm-up).
	WarmupSteps int
	// ClipNorm, if positive, clips each step's gradient g to the Euclidean
	// norm ClipNorm before the optimiser sees it: g·ClipNorm/‖g‖ when
	// ‖g‖ > ClipNorm (0: no clipping). The norm sums the squares in
	// parameter order, so it is the same for any number of goroutines.
	ClipNorm float64
	// Dropout, if positive, trains Fit with dropout of this probability,
	// in [0, 1), in the residual blocks of the flow's residual
	// conditioners and residual MADEs (see MaxLikelihood.SetDropout), the
	// masks of step t (from 0) a hash of (Seed, t, …). The validation loss
	// and every evaluation have none. Reverse-KL training refuses it
	// (0: none).
	Dropout float64
	// ValidationFraction of the data (Fit), chosen at random, is held out
	// and its mean negative log-likelihood reported each epoch (0: none).
	// A positive fraction holds out at least one row.
	ValidationFraction float64
	// Validation, if not nil, is the validation set of Fit: rows of D
	// finite numbers, scored each epoch instead of a held-out
	// ValidationFraction (setting both is an error), so that all of the
	// data is training data.
	Validation mat.Matrix
	// Context holds the contexts of Fit's data for a conditional flow: row
	// i, of C numbers (C = Flow.ContextDim), is the context of data row i.
	// It is required when C > 0 and must be nil when C = 0. A
	// ValidationFraction holds out each row with its context.
	Context mat.Matrix
	// ValidationContext holds the contexts of the rows of Validation, in
	// the same way; it is required with Validation when C > 0 and must be
	// nil otherwise.
	ValidationContext mat.Matrix
	// Patience, with validation data, stops training after this many
	// epochs without a better validation loss than the best so far (the
	// untrained flow's included); the best parameters are restored at the
	// end either way (0: never stop early).
	Patience int
	// MaxSkips is the number of steps in a row with a non-finite loss or
	// gradient after which training gives up (default 10). Such a step is
	// skipped: the parameters and the optimiser's state are left as they
	// were.
	MaxSkips int
	// Seed seeds the split, the shuffling (and so the first minibatch,
	// on which Fit initialises ActNorm layers), the base draws and the
	// contexts drawn by FitReverseKLGiven.
	Seed uint64
	// Workers is the number of goroutines (≤ 0: GOMAXPROCS) and ShardSize
	// the rows each takes at a time (≤ 0: DefaultShardSize). Workers does
	// not change the result, bit for bit; ShardSize changes it in the last
	// bits, since the shards' sums are grouped by it.
	Workers, ShardSize int
	// Progress, if not nil, is called after every epoch. The flow then
	// holds the parameters at the end of that epoch.
	Progress func(Progress)
	// Precision is the element type Fit computes in: Float64, the
	// default, or Float32, which trains the flow's float32 copy
	// (Flow.Float32, MaxLikelihood32, Adam32) and scores the validation
	// data in float32 too. With Float32 the flow's parameters are rounded
	// to float32 before the first step and hold float32 values throughout,
	// so the flow Fit leaves is exactly the float32 flow it trained (ActNorm
	// layers not yet initialised are initialised in float64 first, and
	// their parameters rounded with the others); a flow with a layer or
	// base that has no float32 path is an error, and leaves the flow as it
	// was. Dropout draws the same masks in either precision, and BatchNorm
	// layers train on the minibatch's statistics (summed in float64) in
	// either; their stored statistics are set as in float64, by the float64
	// flow's pass over the training rows (its parameters are the float32
	// values). FitReverseKL and FitReverseKLGiven with Float32 train the
	// float32 copy in the same way, with ReverseKL32.
	Precision Precision
}

func (c *TrainConfig) defaults() {
	if c.Epochs <= 0 {
		c.Epochs = 100
	}
	if c.StepsPerEpoch <= 0 {
		c.StepsPerEpoch = 100
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 256
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 1e-3
	}
	if c.MaxSkips == 0 {
		c.MaxSkips = 10
	}
}

func (c *TrainConfig) validate(method string) error {
	switch {
	case math.IsNaN(c.LearningRate) || math.IsInf(c.LearningRate, 0):
		return fmt.Errorf("flow: %s: learning rate %v", method, c.LearningRate)
	case c.WeightDecay < 0 || math.IsNaN(c.WeightDecay) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("flow: %s: weight decay %v", method, c.WeightDecay)
	case c.WarmupSteps < 0:
		return fmt.Errorf("flow: %s: %d warm-up steps", method, c.WarmupSteps)
	case c.ClipNorm < 0 || math.IsNaN(c.ClipNorm) || math.IsInf(c.ClipNorm, 0):
		return fmt.Errorf("flow: %s: gradient clipping norm %v, want a finite number ≥ 0", method, c.ClipNorm)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("flow: %s: dropout probability %v is not in [0, 1)", method, c.Dropout)
	case !(c.ValidationFraction >= 0 && c.ValidationFraction < 1):
		return fmt.Errorf("flow: %s: validation fraction %v is not in [0, 1)", method, c.ValidationFraction)
	case c.Patience < 0:
		return fmt.Errorf("flow: %s: patience %d", method, c.Patience)
	case c.MaxSkips < 0:
		return fmt.Errorf("flow: %s: MaxSkips %d", method, c.MaxSkips)
	case c.Precision != Float64 && c.Precision != Float32:
		return fmt.Errorf("flow: %s: unknown precision %v", method, c.Precision)
	}
	return nil
}

// Progress reports one epoch of training.
type Progress struct {
	Epoch, Epochs int
	// TrainLoss is the mean loss over the epoch's applied minibatches
	// (negative log-likelihood for Fit, reverse KL for FitReverseKL; NaN
	// if every step was skipped); ValidLoss the validation negative
	// log-likelihood at the end of the epoch (NaN without validation
	// data).
	TrainLoss, ValidLoss float64
	// Skipped counts the epoch's steps that were skipped because their
	// loss or gradient was not finite.
	Skipped int
	// SamplesPerSec counts training rows (or base draws) per second of the
	// epoch.
	SamplesPerSec float64
	Elapsed       time.Duration
}

// Result summarises a training run. Fit and FitReverseKL return it filled
// in however training ended: after the last epoch, by early stopping, by
// giving up on non-finite losses, or when the context was cancelled.
type Result struct {
	// Epochs is the number of epochs completed; when training gave up or
	// was cancelled, it stopped in epoch Epochs+1.
	Epochs int
	// BestEpoch is the epoch whose end-of-epoch parameters the flow holds
	// at the end, 0 for the initial parameters; see FitContext and
	// FitReverseKL for which epoch is best.
	BestEpoch int
	// InitialLoss is the validation negative log-likelihood of the
	// parameters before training, and BestLoss that of the parameters the
	// flow holds at the end (equal to InitialLoss when BestEpoch is 0).
	// Both are NaN without validation data.
	InitialLoss, BestLoss float64
	// Skipped counts the steps skipped in all because their loss or
	// gradient was not finite.
	Skipped int
	// History has one entry per completed epoch.
	History []Progress
}

// ErrNonFinite is wrapped by the error training returns when it gives up:
// too many steps in a row had a loss or a gradient that is NaN or infinite.
// The flow then holds the best parameters seen.
var ErrNonFinite = errors.New("non-finite loss or gradient")

// CheckFinite returns an error naming the first row and column of x that
// holds NaN or ±Inf, or nil.
func CheckFinite(x mat.Matrix) error {
	if i, j, v, bad := firstNonFinite(x); bad {
		return fmt.Errorf("flow: data row %d, column %d is %v", i, j, v)
	}
	return nil
}

// firstNonFinite returns the first entry of x, in row-major order, that is
// NaN or ±Inf.
func firstNonFinite(x mat.Matrix) (i, j int, v float64, bad bool) {
	r, c := x.Dims()
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			if v := x.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return i, j, v, true
			}
		}
	}
	return 0, 0, 0, false
}

// checkContexts returns an error unless c, the contexts that the field of
// TrainConfig named field gives for the rows rows of what, is present
// exactly when the flow is conditional and holds rows×C finite numbers.
func checkContexts(method, field, what string, c mat.Matrix, rows, C int) error {
	switch {
	case isNilMatrix(c) && C > 0:
		return fmt.Errorf("flow: %s: the flow is conditional (C = %d), but TrainConfig.%s is nil: it must hold the contexts of the %s, one row per row", method, C, field, what)
	case isNilMatrix(c):
		return nil
	case C == 0:
		return fmt.Errorf("flow: %s: TrainConfig.%s is set, but the flow has no context (C = 0)", method, field)
	}
	r, k := c.Dims()
	if k != C {
		return fmt.Errorf("flow: %s: TrainConfig.%s has %d columns, the flow's context dimension C is %d", method, field, k, C)
	}
	if r != rows {
		return fmt.Errorf("flow: %s: TrainConfig.%s has %d rows, the %s %d", method, field, r, what, rows)
	}
	if i, j, v, bad := firstNonFinite(c); bad {
		name := "context"
		if field == "ValidationContext" {
			name = "validation context"
		}
		return fmt.Errorf("flow: %s: %s row %d, column %d is %v", method, name, i, j, v)
	}
	return nil
}

// isNilMatrix reports whether m is nil or a nil pointer.
func isNilMatrix(m mat.Matrix) bool {
	if m == nil {
		return true
	}
	v := reflect.ValueOf(m)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// stepLR returns the learning rate of step t (from 0) of T: the linear
// warm-up over the first WarmupSteps, then LearningRate, or with
// CosineDecay its cosine decay over the remaining steps.
func (c *TrainConfig) stepLR(t, T int) float64 {
	w := c.WarmupSteps
	if t < w {
		return c.LearningRate * float64(t+1) / float64(w)
	}
	if !c.CosineDecay || T-w <= 0 {
		return c.LearningRate
	}
	return c.LearningRate * 0.5 * (1 + math.Cos(math.Pi*float64(t-w)/float64(T-w)))
}

// clip scales grad to the Euclidean norm c when it is longer (c > 0) and
// returns its norm before clipping. The squares are summed in parameter
// order, on the calling goroutine.
func clip(grad []float64, c float64) float64 {
	if c <= 0 {
		return 0
	}
	// Scaled by the largest magnitude, so that the sum of squares neither
	// overflows nor underflows.
	mx := 0.0
	for _, g := range grad {
		mx = math.Max(mx, math.Abs(g))
	}
	if mx == 0 || math.IsInf(mx, 0) || math.IsNaN(mx) {
		return mx
	}
	ss := 0.0
	for _, g := range grad {
		ss += (g / mx) * (g / mx)
	}
	norm := mx * math.Sqrt(ss)
	if norm > c {
		s := c / norm
		for i := range grad {
			grad[i] *= s
		}
	}
	return norm
}

func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// keeper holds the best parameters of a run, those of epoch 0 (the initial
// parameters) to begin with. End-of-epoch parameters become best either at
// once, when a validation loss vouches for them (commit), or once the next
// step has a finite loss and gradient at them (offer, then confirm), so
// that parameters that break the loss are never kept.
type keeper struct {
	params []float64
	epoch  int
	loss   float64 // the criterion of params; +Inf if none

	pending      bool
	pendingEpoch int
	pendingLoss  float64

	maxSkips int // steps skipped in a row before giving up
	inRow    int // steps skipped in a row so far
	skipped  int // steps skipped in all
	applied  int // steps applied in all
}

func newKeeper(p []float64, maxSkips int) *keeper {
	return &keeper{params: append([]float64(nil), p...), loss: math.Inf(1), maxSkips: maxSkips}
}

// take judges a step by its loss and gradient at the parameters p. A finite
// step is to be applied: it confirms the offered parameters, which p still
// holds. A non-finite one is to be skipped and is counted; quit says that
// maxSkips steps in a row have been skipped.
func (k *keeper) take(loss float64, grad, p []float64) (apply, quit bool) {
	if isFinite(loss) && finite(grad) {
		k.inRow = 0
		k.applied++
		k.confirm(p)
		return true, false
	}
	k.inRow++
	k.skipped++
	return false, k.inRow >= k.maxSkips
}

// settle confirms the offered parameters at the end of a run, unless the
// last step at them was not finite.
func (k *keeper) settle(p []float64) {
	if k.inRow == 0 {
		k.confirm(p)
	}
}

// better reports whether loss, finite, beats the best so far.
func (k *keeper) better(loss float64) bool { return isFinite(loss) && loss < k.loss }

// commit makes p, the parameters at the end of epoch, with criterion loss,
// the best.
func (k *keeper) commit(epoch int, loss float64, p []float64) {
	copy(k.params, p)
	k.epoch, k.loss, k.pending = epoch, loss, false
}

// offer proposes the parameters at the end of epoch; they are kept by the
// next confirm unless a later offer replaces them.
func (k *keeper) offer(epoch int, loss float64) {
	k.pending, k.pendingEpoch, k.pendingLoss = true, epoch, loss
}

// confirm keeps the offered parameters, which p still holds.
func (k *keeper) confirm(p []float64) {
	if k.pending {
		k.commit(k.pendingEpoch, k.pendingLoss, p)
	}
}

// giveUp returns the error of a run that gave up in epoch after n skipped
// steps in a row.
func giveUp(method string, epoch, n int, loss float64, best int) error {
	held := fmt.Sprintf("the parameters of epoch %d", best)
	if best == 0 {
		held = "the initial parameters"
	}
	return fmt.Errorf("flow: %s: training diverged in epoch %d: %d steps in a row had a %w (last loss %v); "+
		"the flow holds %s, the best seen; try a lower learning rate or a clamp on the log-scales",
		method, epoch, n, ErrNonFinite, loss, held)
}

// Fit trains f by maximum likelihood on the rows of data with Adam; see
// FitContext.
func Fit(f *Flow, data mat.Matrix, cfg TrainConfig) (*Result, error) {
	return FitContext(context.Background(), f, data, cfg)
}

// FitContext trains f by maximum likelihood on the rows of data with Adam,
// shuffling with cfg.Seed every epoch. Data holding NaN or ±Inf is refused
// with an error naming the row and column. It panics if f or data is nil.
//
// A conditional flow (C = f.ContextDim() > 0) is fitted to the conditional
// density p(x | c) of the rows of data given the rows of cfg.Context, the
// mean of −log p(x_i | c_i); cfg.Context (n×C) is then required, as is
// cfg.ValidationContext with cfg.Validation, and a held-out fraction keeps
// each row with its context. A context missing, set for an unconditional
// flow, of the wrong shape or holding NaN or ±Inf (row and column named)
// is an error.
//
// A step whose loss or gradient is NaN or infinite is skipped: the
// parameters and Adam's state stay as they were, and the step is counted in
// Progress.Skipped and Result.Skipped. After cfg.MaxSkips skipped steps in
// a row, or when every step of the run was skipped, training gives up with
// an error wrapping ErrNonFinite that names the epoch.
//
// ActNorm layers of f that are not yet initialised get their data-dependent
// initialisation (InitActNorm) on the first minibatch of the first epoch,
// in the order shuffled from cfg.Seed, before anything else: the untrained
// flow that is scored (Result.InitialLoss) and that BestEpoch 0 restores
// is the initialised one. A first minibatch on which some dimension of an
// ActNorm layer's input has no spread (a constant column; a batch of one
// row) is an error, returned before training with a nil Result and the flow
// unchanged.
//
// A flow with a layer that cannot backpropagate through Inverse (an IAF
// layer, whose Inverse is sequential; Invert it to train by maximum
// likelihood) is an error naming the layer, returned before training with
// the flow unchanged.
//
// BatchNorm layers of f train in training mode (NewMaxLikelihood): each
// step normalises by the minibatch's own statistics. Their stored
// statistics, used by everything else, are set to those of the training
// rows (SetBatchNormStats) before the untrained flow is scored, at the end
// of every epoch before it is validated, and after the best parameters are
// restored, so that the flow returned holds the statistics of its own
// parameters. Statistics that cannot be computed (a variance of zero, or
// not finite) leave the last ones at the end of an epoch, and are returned
// as an error at the end of the run or before it starts.
//
// However training ends (the last epoch, early stopping, giving up, or ctx
// being cancelled, when it stops after the current minibatch and returns
// ctx's error), the flow holds the best parameters seen, never non-finite
// ones, and the Result is filled in; it is nil only when the arguments or
// the data were refused before training. With validation data
// (cfg.Validation or cfg.ValidationFraction) the parameters are scored on it
// before the first step and at the end of every epoch, and the best are
// those of the lowest finite validation loss: the initial parameters
// (BestEpoch 0) when no epoch improved on them. Without validation data the
// best are the latest end-of-epoch parameters known to be good: those of
// the last epoch when the run ends normally, otherwise those of the last
// epoch after which a step had a finite loss and gradient (or the initial
// parameters).
func FitContext(ctx context.Context, f *Flow, data mat.Matrix, cfg TrainConfig) (*Result, error) {
	if f == nil {
		panic("flow: Fit: nil flow")
	}
	if isNilMatrix(data) {
		panic("flow: Fit: nil data")
	}
	cfg.defaults()
	if err := cfg.validate("Fit"); err != nil {
		return nil, err
	}
	if cfg.Precision == Float64 { // (Float32: newStepper checks the float32 copy)
		if err := f.backwardErr(false, false); err != nil {
			return nil, fmt.Errorf("flow: Fit: %w", err)
		}
	}
	r, c := data.Dims()
	if c != f.d {
		return nil, fmt.Errorf("flow: Fit: data has %d columns, the flow %d dimensions", c, f.d)
	}
	if err := CheckFinite(data); err != nil {
		return nil, err
	}
	C := f.c
	if err := checkContexts("Fit", "Context", "data", cfg.Context, r, C); err != nil {
		return nil, err
	}
	var valid, validC *mat.Dense
	if isNilMatrix(cfg.Validation) && !isNilMatrix(cfg.ValidationContext) {
		return nil, errors.New("flow: Fit: TrainConfig.ValidationContext is set without Validation")
	}
	if !isNilMatrix(cfg.Validation) {
		if cfg.ValidationFraction != 0 {
			return nil, fmt.Errorf("flow: Fit: both Validation and a ValidationFraction (%v) are set", cfg.ValidationFraction)
		}
		vr, vc := cfg.Validation.Dims()
		if vc != f.d {
			return nil, fmt.Errorf("flow: Fit: validation data has %d columns, the flow %d dimensions", vc, f.d)
		}
		if vr == 0 {
			return nil, errors.New("flow: Fit: validation data has no rows")
		}
		if i, j, v, bad := firstNonFinite(cfg.Validation); bad {
			return nil, fmt.Errorf("flow: Fit: validation data row %d, column %d is %v", i, j, v)
		}
		if err := checkContexts("Fit", "ValidationContext", "validation data", cfg.ValidationContext, vr, C); err != nil {
			return nil, err
		}
		valid = mat.DenseCopyOf(cfg.Validation)
		if C > 0 {
			validC = mat.DenseCopyOf(cfg.ValidationContext)
		}
	}
	rnd := rand.New(rand.NewPCG(cfg.Seed, 0xda3e39cb94b95bdb))
	idx := rnd.Perm(r)
	nValid := int(math.Round(cfg.ValidationFraction * float64(r)))
	if cfg.ValidationFraction > 0 && nValid == 0 {
		nValid = 1
	}
	if r-nValid < 1 {
		return nil, fmt.Errorf("flow: Fit: %d rows leave no training data after holding out %d for validation", r, nValid)
	}
	d := f.d
	// copyRows copies the given rows of the w columns of a.
	copyRows := func(a mat.Matrix, w int, rows []int) *mat.Dense {
		m := mat.NewDense(len(rows), w, nil)
		for i, k := range rows {
			for j := 0; j < w; j++ {
				m.Set(i, j, a.At(k, j))
			}
		}
		return m
	}
	train := copyRows(data, d, idx[nValid:])
	var trainC *mat.Dense
	if C > 0 {
		trainC = copyRows(cfg.Context, C, idx[nValid:])
	}
	if nValid > 0 {
		valid = copyRows(data, d, idx[:nValid])
		if C > 0 {
			validC = copyRows(cfg.Context, C, idx[:nValid])
		}
	}
	var validLP []float64
	var validCM mat.Matrix // validC, or nil without contexts
	if valid != nil {
		n, _ := valid.Dims()
		validLP = make([]float64, n)
		if validC != nil {
			validCM = validC
		}
	}
	nTrain := r - nValid
	bs := min(cfg.BatchSize, nTrain)
	grad := make([]float64, f.NumParams())
	batch := make([]float64, bs*d)
	var cbatch, tc []float64 // the minibatch's contexts and the training rows'
	if C > 0 {
		cbatch = make([]float64, bs*C)
		tc = trainC.RawMatrix().Data
	}
	order := make([]int, nTrain)
	for i := range order {
		order[i] = i
	}
	td := train.RawMatrix().Data
	shuffle := func() { rnd.Shuffle(nTrain, func(i, j int) { order[i], order[j] = order[j], order[i] }) }
	// The first epoch's order is drawn before the flow is scored, so that
	// ActNorm layers not yet initialised are initialised on its first
	// minibatch first: the untrained flow is the initialised one.
	shuffle()
	// BatchNorm layers: the evaluation mode's statistics are those of the
	// whole training set, recomputed whenever the flow is scored or
	// handed back (docs/design.md §1.13).
	hasBN := len(batchNormLayers(f)) > 0
	bnStats := func() error {
		if !hasBN {
			return nil
		}
		_, err := setBatchNormStats("Fit", "the training rows", f, td, tc, nTrain)
		return err
	}
	// A refusal below hands the flow back as it came, with the statistics
	// it had.
	undoStats := bnSnapshot(f)
	if err := bnStats(); err != nil {
		return nil, err
	}
	var undoInit func() // puts back the ActNorm layers initialised below
	if actNormToInit(f) >= 0 {
		m := bs
		for i, k := range order[:m] {
			copy(batch[i*d:i*d+d], td[k*d:k*d+d])
		}
		var bc []float64
		if C > 0 {
			for i, k := range order[:m] {
				copy(cbatch[i*C:i*C+C], tc[k*C:k*C+C])
			}
			bc = cbatch[:m*C]
		}
		// What a failure below (the BatchNorm statistics, the float32
		// copy) puts back.
		p0 := append([]float64(nil), f.params...)
		var fresh []*ActNorm
		for _, l := range f.layers {
			if a, ok := l.(*ActNorm); ok && !a.initialized {
				fresh = append(fresh, a)
			}
		}
		undoInit = func() {
			copy(f.params, p0)
			for _, a := range fresh {
				a.initialized = false
			}
		}
		if _, err := initActNorm("Fit", "the first minibatch", f, batch[:m*d], bc, m); err != nil {
			undoStats()
			return nil, err
		}
		if err := bnStats(); err != nil {
			undoInit()
			undoStats()
			return nil, err
		}
	}

	// The objective and the optimiser in the run's precision, made once
	// the ActNorm layers are initialised (a float32 copy takes their
	// parameters as they are then). A flow that cannot train in that
	// precision is handed back as it came.
	st, err := newFitStepper(f, cfg)
	if err != nil {
		if undoInit != nil {
			undoInit()
		}
		undoStats()
		return nil, err
	}
	validNLL := func() float64 {
		st.logProb(validLP, valid, validCM)
		return -meanOf(validLP)
	}

	res := &Result{InitialLoss: math.NaN(), BestLoss: math.NaN()}
	best := newKeeper(f.params, cfg.MaxSkips)
	if valid != nil {
		res.InitialLoss = validNLL()
		res.BestLoss = res.InitialLoss
		if isFinite(res.InitialLoss) {
			best.loss = res.InitialLoss
		}
	}
	// restore puts the best parameters back and completes res.
	var statsErr error // of the statistics of the best parameters
	restore := func() {
		copy(f.params, best.params)
		res.BestEpoch, res.Skipped = best.epoch, best.skipped
		if valid != nil && best.epoch > 0 {
			res.BestLoss = best.loss
		}
		statsErr = bnStats()
	}
	start := time.Now()
	step, steps := 0, cfg.Epochs*((nTrain+bs-1)/bs)
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		t0 := time.Now()
		if epoch > 1 {
			shuffle()
		}
		sum, rows, skipped := 0.0, 0, 0
		for lo := 0; lo < nTrain; lo += bs {
			if err := ctx.Err(); err != nil {
				best.settle(f.params)
				restore()
				return res, err
			}
			hi := min(lo+bs, nTrain)
			m := hi - lo
			var bc mat.Matrix // the minibatch's contexts, or nil
			for i, k := range order[lo:hi] {
				copy(batch[i*d:i*d+d], td[k*d:k*d+d])
			}
			if C > 0 {
				for i, k := range order[lo:hi] {
					copy(cbatch[i*C:i*C+C], tc[k*C:k*C+C])
				}
				bc = mat.NewDense(m, C, cbatch[:m*C])
			}
			loss := st.lossGrad(grad, mat.NewDense(m, d, batch[:m*d]), bc, uint64(step))
			lr := cfg.stepLR(step, steps)
			step++
			if apply, quit := best.take(loss, grad, f.params); !apply {
				skipped++
				if quit {
					restore()
					return res, giveUp("Fit", epoch, best.inRow, loss, best.epoch)
				}
				continue
			}
			clip(grad, cfg.ClipNorm)
			st.update(grad, lr)
			sum += loss * float64(m)
			rows += m
		}
		p := Progress{Epoch: epoch, Epochs: cfg.Epochs, TrainLoss: sum / float64(rows), ValidLoss: math.NaN(), Skipped: skipped,
			SamplesPerSec: float64(rows) / time.Since(t0).Seconds(), Elapsed: time.Since(start)}
		if rows == 0 {
			p.TrainLoss = math.NaN()
		}
		res.Epochs = epoch
		stop := false
		// Statistics that cannot be computed (parameters that send a
		// column to a constant or to ±Inf) leave the last ones, and the
		// validation loss judges the parameters with them.
		_ = bnStats()
		if valid != nil {
			p.ValidLoss = validNLL()
			if best.better(p.ValidLoss) && finite(f.params) {
				best.commit(epoch, p.ValidLoss, f.params)
			} else if cfg.Patience > 0 && epoch-best.epoch >= cfg.Patience {
				stop = true
			}
		} else if finite(f.params) {
			best.offer(epoch, math.NaN())
		}
		res.History = append(res.History, p)
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
		if stop {
			break
		}
	}
	best.settle(f.params)
	restore()
	if statsErr != nil {
		return res, statsErr
	}
	if best.applied == 0 {
		return res, fmt.Errorf("flow: Fit: every one of the %d steps had a %w; the flow holds its initial parameters; "+
			"try a lower learning rate or a clamp on the log-scales", res.Skipped, ErrNonFinite)
	}
	return res, nil
}

func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// FitReverseKL trains f to approximate the density proportional to
// exp(target) by minimising the reverse KL divergence with Adam: each step
// draws BatchSize base points with cfg.Seed's generator (the standard
// normal ε of ReverseKL) and follows the reparameterisation gradient. It
// runs Epochs × StepsPerEpoch steps and reports progress after every
// StepsPerEpoch. It panics if f is nil, and returns an error for a nil
// target, a conditional flow (see FitReverseKLGiven), a cfg.Validation,
// Context or ValidationContext, which it has no use for, a flow whose
// base is a MixtureBase, whose discrete component draw has no
// reparameterisation gradient, or a flow with a layer that cannot
// backpropagate through Forward (a MAF layer, whose Forward is
// sequential).
//
// Non-finite steps are skipped and training gives up as for FitContext,
// and however training ends the flow holds the best parameters seen: the
// end-of-epoch parameters of the epoch with the lowest finite mean training
// loss (Progress.TrainLoss, over the epoch's applied steps), once a later
// step had a finite loss and gradient at them or the run ended normally.
// The initial parameters are not scored; they are kept (BestEpoch 0) only
// when no epoch qualifies. Result.InitialLoss and BestLoss are NaN.
//
// There are no data to initialise ActNorm layers on: FitReverseKL trains
// them from their current parameters (the identity of a new layer) and
// marks them initialised, so that a later Fit does not overwrite them.
// Nor are there data for batch statistics: BatchNorm layers are trained in
// evaluation mode, their γ and β with their stored statistics fixed.
//
// With cfg.Precision Float32 it trains the flow's float32 copy
// (Flow.Float32, ReverseKL32, Adam32), writing its parameters back into f
// after every step, as FitContext does; the target is still called with
// float64 rows. A flow without a float32 path, or with a layer that
// cannot backpropagate through Forward in float32, is an error that
// leaves f as it was.
func FitReverseKL(ctx context.Context, f *Flow, target Target, cfg TrainConfig) (*Result, error) {
	if f == nil {
		panic("flow: FitReverseKL: nil flow")
	}
	return fitReverseKL(ctx, "FitReverseKL", f, target, nil, nil, cfg)
}

// FitReverseKLGiven trains a conditional flow f to approximate, for every
// context c, the density proportional to exp(target(·, ·, c)), by
// minimising the amortised reverse KL divergence with Adam (see
// NewReverseKLGiven). Each step draws BatchSize contexts, calling draw on
// each row of C numbers in turn with cfg.Seed's generator, and then
// BatchSize base points from the same generator, so a run depends only on
// cfg.Seed and draw. draw is called from one goroutine at a time; it must
// fill all of c, and a context holding NaN or ±Inf ends training with an
// error naming the step, row and column. For an unconditional flow draw
// receives empty slices.
//
// The schedule, skipping, giving up, the choice of the best parameters and
// the ActNorm layers are those of FitReverseKL. It panics if f is nil, and
// returns an error for a nil target or draw, for a cfg.Validation, Context
// or ValidationContext, which it has no use for, or for a flow whose base
// is a MixtureBase.
func FitReverseKLGiven(ctx context.Context, f *Flow, target ConditionalTarget, draw func(c []float64, rnd *rand.Rand), cfg TrainConfig) (*Result, error) {
	if f == nil {
		panic("flow: FitReverseKLGiven: nil flow")
	}
	if draw == nil {
		return nil, errors.New("flow: FitReverseKLGiven: nil draw")
	}
	return fitReverseKL(ctx, "FitReverseKLGiven", f, nil, target, draw, cfg)
}

// fitReverseKL is FitReverseKL with target, or FitReverseKLGiven with
// ctarget and draw.
func fitReverseKL(ctx context.Context, method string, f *Flow, target Target, ctarget ConditionalTarget, draw func([]float64, *rand.Rand), cfg TrainConfig) (*Result, error) {
	cfg.defaults()
	if err := cfg.validate(method); err != nil {
		return nil, err
	}
	if target == nil && ctarget == nil {
		return nil, fmt.Errorf("flow: %s: nil target", method)
	}
	if cfg.Dropout != 0 {
		return nil, fmt.Errorf("flow: %s: dropout %v: dropout is for training by maximum likelihood (Fit), not reverse KL", method, cfg.Dropout)
	}
	if cfg.Precision == Float64 { // (Float32: newStepper checks the float32 copy)
		if err := f.backwardErr(true, false); err != nil {
			return nil, fmt.Errorf("flow: %s: %w", method, err)
		}
	}
	if err := f.base.reparamErr(); err != nil {
		return nil, fmt.Errorf("flow: %s: %w", method, err)
	}
	if !isNilMatrix(cfg.Validation) {
		return nil, fmt.Errorf("flow: %s: Validation is set, but reverse-KL training has no data to validate on", method)
	}
	if !isNilMatrix(cfg.Context) || !isNilMatrix(cfg.ValidationContext) {
		return nil, fmt.Errorf("flow: %s: TrainConfig.Context or ValidationContext is set, but reverse-KL training has no data to take contexts from", method)
	}
	C := f.c
	if draw == nil && C > 0 {
		return nil, fmt.Errorf("flow: %s: the flow is conditional (C = %d): use FitReverseKLGiven", method, C)
	}
	rnd := rand.New(rand.NewPCG(cfg.Seed, 0x2545f4914f6cdd1d))
	// Reverse KL has no data to initialise ActNorm layers on: their
	// parameters now are their initialisation, and what this run teaches
	// them a later Fit keeps. They are marked before a float32 copy is
	// made (Flow.Float32 refuses a layer not initialised), and put back
	// if the run is refused.
	var fresh []*ActNorm
	for _, l := range f.layers {
		if a, ok := l.(*ActNorm); ok && !a.initialized {
			a.initialized = true
			fresh = append(fresh, a)
		}
	}
	// The objective and the optimiser in the run's precision; a flow that
	// cannot train in it is handed back as it came.
	st, err := newKLStepper(method, f, target, ctarget, cfg)
	if err != nil {
		for _, a := range fresh {
			a.initialized = false
		}
		return nil, err
	}
	grad := make([]float64, f.NumParams())
	z := mat.NewDense(cfg.BatchSize, f.d, nil)
	zd := z.RawMatrix().Data
	var cm mat.Matrix // the step's contexts, or nil
	var cd []float64
	if C > 0 {
		c := mat.NewDense(cfg.BatchSize, C, nil)
		cm, cd = c, c.RawMatrix().Data
	}
	res := &Result{InitialLoss: math.NaN(), BestLoss: math.NaN()}
	best := newKeeper(f.params, cfg.MaxSkips)
	restore := func() {
		copy(f.params, best.params)
		res.BestEpoch, res.Skipped = best.epoch, best.skipped
	}
	start := time.Now()
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		t0 := time.Now()
		sum, n, skipped := 0.0, 0, 0
		for s := 0; s < cfg.StepsPerEpoch; s++ {
			if err := ctx.Err(); err != nil {
				best.settle(f.params)
				restore()
				return res, err
			}
			if draw != nil {
				for i := 0; i < cfg.BatchSize; i++ {
					draw(cd[i*C:i*C+C:i*C+C], rnd)
				}
				for k, v := range cd {
					if !isFinite(v) {
						best.settle(f.params)
						restore()
						return res, fmt.Errorf("flow: %s: draw gave a context with %v in row %d, column %d of step %d of epoch %d",
							method, v, k/C, k%C, s+1, epoch)
					}
				}
			}
			stdNormalFill(zd, rnd)
			loss := st.klLossGrad(grad, z, cm)
			if apply, quit := best.take(loss, grad, f.params); !apply {
				skipped++
				if quit {
					restore()
					return res, giveUp(method, epoch, best.inRow, loss, best.epoch)
				}
				continue
			}
			clip(grad, cfg.ClipNorm)
			st.update(grad, cfg.stepLR((epoch-1)*cfg.StepsPerEpoch+s, cfg.Epochs*cfg.StepsPerEpoch))
			sum += loss
			n++
		}
		p := Progress{Epoch: epoch, Epochs: cfg.Epochs, TrainLoss: sum / float64(n), ValidLoss: math.NaN(), Skipped: skipped,
			SamplesPerSec: float64(n*cfg.BatchSize) / time.Since(t0).Seconds(), Elapsed: time.Since(start)}
		if n == 0 {
			p.TrainLoss = math.NaN()
		}
		res.Epochs = epoch
		if best.better(p.TrainLoss) && finite(f.params) {
			best.offer(epoch, p.TrainLoss)
		}
		res.History = append(res.History, p)
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
	}
	best.settle(f.params)
	restore()
	if best.applied == 0 {
		return res, fmt.Errorf("flow: %s: every one of the %d steps had a %w; the flow holds its initial parameters; "+
			"try a lower learning rate or a clamp on the log-scales", method, res.Skipped, ErrNonFinite)
	}
	return res, nil
}

// ELBO estimates the evidence lower bound E_q[log π(x) − log q(x)] ≤ log Z
// of f against target from n draws of rnd, and returns it with its standard
// error. f must be unconditional (it samples with Flow.Sample).
func ELBO(f *Flow, target Target, n int, rnd *rand.Rand) (elbo, stderr float64) {
	x := mat.NewDense(n, f.d, nil)
	logq := make([]float64, n)
	f.Sample(x, logq, rnd)
	g := make([]float64, f.d)
	w := make([]float64, n)
	for i := range w {
		w[i] = target(g, x.RawRowView(i)) - logq[i]
	}
	m := meanOf(w)
	v := 0.0
	for _, x := range w {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(n-1) / float64(n))
}

// fitStepper is Fit's objective, optimiser and scoring in the run's
// precision. The flow's float64 parameters are what Fit keeps, restores
// and reports in either; the float32 stepper writes its parameters into
// them, exactly, after every update.
//
// FitReverseKL's stepper (newKLStepper) holds the reverse-KL objective,
// kl or kl32, in place of obj or obj32.
type fitStepper struct {
	f     *Flow
	obj   *MaxLikelihood
	kl    *ReverseKL
	opt   *Adam
	g     *Flow32 // Float32: the float32 copy, or nil
	obj32 *MaxLikelihood32
	kl32  *ReverseKL32
	opt32 *Adam32
	grad  []float32
}

func newFitStepper(f *Flow, cfg TrainConfig) (*fitStepper, error) {
	st, err := newStepper("Fit", f, false, cfg)
	if err != nil {
		return nil, err
	}
	if st.g != nil {
		st.obj32 = NewMaxLikelihood32(st.g, cfg.Workers, cfg.ShardSize)
		st.obj32.SetDropout(cfg.Dropout, cfg.Seed)
		return st, nil
	}
	st.obj = NewMaxLikelihood(f, cfg.Workers, cfg.ShardSize)
	st.obj.SetDropout(cfg.Dropout, cfg.Seed)
	return st, nil
}

// newKLStepper is newFitStepper for FitReverseKL (target) or
// FitReverseKLGiven (ctarget).
func newKLStepper(method string, f *Flow, target Target, ctarget ConditionalTarget, cfg TrainConfig) (*fitStepper, error) {
	st, err := newStepper(method, f, true, cfg)
	if err != nil {
		return nil, err
	}
	switch {
	case st.g != nil && ctarget != nil:
		st.kl32 = NewReverseKLGiven32(st.g, ctarget, cfg.Workers, cfg.ShardSize)
	case st.g != nil:
		st.kl32 = NewReverseKL32(st.g, target, cfg.Workers, cfg.ShardSize)
	case ctarget != nil:
		st.kl = NewReverseKLGiven(f, ctarget, cfg.Workers, cfg.ShardSize)
	default:
		st.kl = NewReverseKL(f, target, cfg.Workers, cfg.ShardSize)
	}
	return st, nil
}

// newStepper returns a stepper with the optimiser of the run's precision
// and, for Float32, the float32 copy of f, which must be able to
// backpropagate through Forward (reverse KL, kl) or Inverse; f's
// parameters are rounded to float32 only once the copy is accepted.
func newStepper(method string, f *Flow, kl bool, cfg TrainConfig) (*fitStepper, error) {
	st := &fitStepper{f: f}
	if cfg.Precision == Float32 {
		g, err := f.Float32()
		if err == nil && kl {
			err = g.reverseKLErr()
		} else if err == nil {
			err = g.backwardErr(false)
		}
		if err != nil {
			return nil, fmt.Errorf("flow: %s: precision f32: %s", method, strings.TrimPrefix(err.Error(), "flow: "))
		}
		g.storeTo(f) // the run's parameters are float32 values from the start
		st.g = g
		st.opt32 = NewAdam32(cfg.LearningRate)
		st.opt32.WeightDecay = cfg.WeightDecay
		st.grad = make([]float32, g.NumParams())
		return st, nil
	}
	st.opt = NewAdam(cfg.LearningRate)
	st.opt.WeightDecay = cfg.WeightDecay
	return st, nil
}

// lossGrad returns the minibatch's loss at the flow's parameters and
// writes its gradient into grad (float64 in either precision: a float32
// gradient is widened exactly).
func (st *fitStepper) lossGrad(grad []float64, x, c mat.Matrix, step uint64) float64 {
	if st.g == nil {
		st.obj.SetStep(step)
		return st.obj.LossGradGiven(grad, x, c)
	}
	// The float32 copy holds the flow's parameters: update writes them
	// back after every step, and nothing else writes them during the run.
	st.obj32.SetStep(step)
	loss := st.obj32.LossGradGiven(st.grad, x, c)
	cvt32to64(grad, st.grad)
	return loss
}

// klLossGrad returns the reverse-KL loss of the base draws z (with their
// contexts c) at the flow's parameters and writes its gradient into grad,
// as lossGrad.
func (st *fitStepper) klLossGrad(grad []float64, z, c mat.Matrix) float64 {
	if st.g == nil {
		return st.kl.LossGradGiven(grad, z, c)
	}
	loss := st.kl32.LossGradGiven(st.grad, z, c)
	cvt32to64(grad, st.grad)
	return loss
}

// update takes one optimiser step with the (clipped) gradient grad and the
// learning rate lr.
func (st *fitStepper) update(grad []float64, lr float64) {
	if st.g == nil {
		st.opt.LearningRate = lr
		st.opt.Step(st.f.params, grad)
		return
	}
	cvt64to32(st.grad, grad)
	st.opt32.LearningRate = lr
	st.opt32.Step(st.g.params, st.grad)
	st.g.storeTo(st.f)
}

// logProb scores the rows of x (with their contexts c) in the run's
// precision.
func (st *fitStepper) logProb(dst []float64, x, c mat.Matrix) {
	if st.g == nil {
		st.f.LogProbGiven(dst, x, c)
		return
	}
	st.g.LogProbGiven(dst, x, c)
}
