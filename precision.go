// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// layer32 is a layer that also computes in float32 (docs/design.md §4):
// its passes over float32 rows with the parameters p, the layer's window of
// a Flow32's float32 vector. Each is the same source as the float64 method
// of its name, instantiated for float32; the work it takes is WorkLen(n)
// float32 values. Its backward passes are those of inverseGrader32 and
// forwardGrader32, as InverseGrader and ForwardGrader are a Layer's.
type layer32 interface {
	Layer
	forward32(p, x, z, ctx, logdet, work []float32)
	inverse32(p, z, x, ctx, logdet, work []float32)
}

// inverseGrader32 is a layer32 that backpropagates through inverse32
// (InverseBackward in float32): what MaxLikelihood32 needs.
type inverseGrader32 interface {
	inverseBackward32(p, dx, dc, dz, dld, x, z, ctx, work, grad []float32)
}

// forwardGrader32 is a layer32 that backpropagates through forward32
// (ForwardBackward in float32): what ReverseKL32 needs.
type forwardGrader32 interface {
	forwardBackward32(p, dz, dc, dx, dld, z, x, ctx, work, grad []float32)
}

// prepacker32 is a layer whose conditioner's weights can be packed once
// for the shards of a float32 training step, from the Flow32's parameters
// (mlpPrepack, madePrepack; prepacker is its float64 counterpart). The
// packs are held by the layer (a float32 set beside the float64 one), so
// two objectives training flows that share the layers must not run at
// once.
type prepacker32 interface {
	prepack32(p []float32, n int)
	unpack32()
}

func (c *Coupling) prepack32(p []float32, n int) { mlpPrepack(&c.cond, p, n) }
func (c *Coupling) unpack32()                    { mlpUnpack[float32](&c.cond) }
func (a *arLayer) prepack32(p []float32, n int)  { madePrepack(a.made, p, n) }
func (a *arLayer) unpack32()                     { madeUnpack[float32](a.made) }

// prepack32Job packs the conditioners of a Flow32's prepackers for a
// training step, one layer per job shard, as prepackJob does for float64.
type prepack32Job struct {
	runState
	g     *Flow32
	idx   []int // the layers that are prepackers
	size  int   // their parameters
	n     int
	found bool
}

func (j *prepack32Job) runShard(_, s int) {
	l := j.idx[s]
	j.g.layers[l].(prepacker32).prepack32(j.g.window(l), j.n)
}

// prepack packs the weights of the prepackers for a step's shards of n
// rows on up to workers goroutines, and reports whether it did: not for a
// single shard, nor when the weights are too few to pay for the hand-off
// (prepackJob.prepack).
func (j *prepack32Job) prepack(n, shards, workers int) bool {
	if prepackOff || shards < 2 {
		return false
	}
	if !j.found {
		for l, ly := range j.g.layers {
			if _, ok := ly.(prepacker32); ok {
				j.idx = append(j.idx, l)
				j.size += ly.NumParams()
			}
		}
		j.found = true
	}
	w := prepackWorkers(len(j.idx), j.size, workers)
	if w == 0 {
		return false
	}
	j.n = n
	runShards(j, &j.runState, len(j.idx), w)
	return true
}

func (j *prepack32Job) unpack() {
	for _, l := range j.idx {
		j.g.layers[l].(prepacker32).unpack32()
	}
}

func (c *Coupling) forward32(p, x, z, ctx, logdet, work []float32) {
	checkRows("Coupling.Forward", c.d, logdet, x, z)
	couplingCheckContext(c, "Coupling.Forward", "context", ctx, len(logdet))
	couplingPass(c, p, x, z, ctx, logdet, work, true, dropout{})
}

func (c *Coupling) inverse32(p, z, x, ctx, logdet, work []float32) {
	checkRows("Coupling.Inverse", c.d, logdet, x, z)
	couplingCheckContext(c, "Coupling.Inverse", "context", ctx, len(logdet))
	couplingPass(c, p, z, x, ctx, logdet, work, false, dropout{})
}

func (c *Coupling) inverseBackward32(p, dx, dc, dz, dld, x, z, ctx, work, grad []float32) {
	couplingBackward(c, p, "Coupling.InverseBackward", dx, dc, dz, dld, x, z, work, grad, false, dropout{})
}

func (c *Coupling) forwardBackward32(p, dz, dc, dx, dld, z, x, ctx, work, grad []float32) {
	couplingBackward(c, p, "Coupling.ForwardBackward", dz, dc, dx, dld, z, x, work, grad, true, dropout{})
}

func (p *Permutation) forward32(_, x, z, _, logdet, _ []float32) {
	checkRows("Permutation.Forward", len(p.perm), logdet, x, z)
	gatherRows(x, z, p.perm)
}

func (p *Permutation) inverse32(_, z, x, _, logdet, _ []float32) {
	checkRows("Permutation.Inverse", len(p.perm), logdet, x, z)
	gatherRows(z, x, p.inv)
}

func (p *Permutation) inverseBackward32(_, dx, _, dz, _, _, _, _, _, _ []float32) {
	gatherRows(dx, dz, p.perm)
}

func (p *Permutation) forwardBackward32(_, dz, _, dx, _, _, _, _, _, _ []float32) {
	gatherRows(dz, dx, p.inv)
}

// Precision is the element type a flow computes in. Float64 is the
// default and the reference; Float32 computes with float32 parameters,
// activations and gradients (Flow32), twice the arithmetic per vector
// instruction, and is checked against the float64 flow of the same
// parameters (docs/design.md §4).
type Precision int

const (
	// Float64 computes in float64.
	Float64 Precision = iota
	// Float32 computes in float32 through a Flow32; the sums over rows of
	// the loss and the log-likelihood stay in float64.
	Float32
)

// String returns "f64" or "f32".
func (p Precision) String() string {
	switch p {
	case Float64:
		return "f64"
	case Float32:
		return "f32"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision returns the precision named s: "f64" or "float64" (or
// "", the default), "f32" or "float32".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "", "f64", "float64":
		return Float64, nil
	case "f32", "float32":
		return Float32, nil
	}
	return 0, fmt.Errorf("flow: unknown precision %q (want f64 or f32)", s)
}

// Flow32 is a flow that computes in float32: the layers and base of a
// float64 Flow with its parameters rounded once to float32 (Flow.Float32).
// Its evaluations and its training objectives (MaxLikelihood32,
// ReverseKL32) run the same source as the float64 flow's, instantiated for
// float32; log-densities and losses are returned in float64, their sums
// over rows taken in float64.
// Float64 converts it back exactly: each float32 parameter is a float64
// value, so a Flow32 is saved in the model format of FORMAT.md unchanged.
//
// Float32 has a path for the coupling layers with the Affine, Additive and
// RQSpline coupling functions (plain or residual conditioners), affine and
// spline MAF and IAF layers, ActNorm (once initialised), LULinear,
// BatchNorm, permutations, Standardize and any of them inverted (Invert),
// over any base (StdNormalBase, DiagGaussianBase, MixtureBase,
// ConditionalGaussianBase); Flow.Float32 says which layer has none. MAF
// layers backpropagate through Inverse alone and IAF layers through Forward
// alone, and inverted ones the other way round, as in float64.
//
// The methods of a Flow32 may be called concurrently, except that nothing
// may write the parameters while another call reads them. A Flow32 shares
// its layers with the flow it was made from: evaluating either, or
// training one, while the other is evaluated is safe, but two training
// objectives over flows that share layers must not run at once (the
// weights packed for a step are held by the layers).
type Flow32 struct {
	f      *Flow // the layers' structure; its parameters are not read
	layers []layer32
	base   base32
	params []float32

	mu      sync.Mutex
	freeWS  []*workspace32
	freeJob []*eval32Job
}

// why32er is a layer that may have no float32 path although it has the
// methods (an ActNorm not initialised): why32 says why, or returns "".
type why32er interface{ why32() string }

// Float32 returns a float32 copy of f: the same layers and base, sharing
// their structure (masks, sizes, orders) with f but not their parameters,
// which are rounded once to the nearest float32. It returns an error for a
// flow with a layer or base that has no float32 path, naming it, and for a
// parameter whose magnitude overflows float32.
func (f *Flow) Float32() (*Flow32, error) {
	f.check("Flow.Float32")
	b32, ok := f.base.(base32)
	if !ok {
		return nil, fmt.Errorf("flow: Flow.Float32: the base %T has no float32 path", f.base)
	}
	g := &Flow32{f: f, layers: make([]layer32, len(f.layers)), base: b32, params: make([]float32, len(f.params))}
	for i, l := range f.layers {
		l32, ok := l.(layer32)
		if ok {
			if w, has := l.(why32er); has {
				if why := w.why32(); why != "" {
					return nil, fmt.Errorf("flow: Flow.Float32: layer %d: %s", i, why)
				}
			}
		}
		if !ok {
			return nil, fmt.Errorf("flow: Flow.Float32: layer %d (%T) has no float32 path", i, l)
		}
		g.layers[i] = l32
	}
	cvt64to32(g.params, f.params)
	for i, v := range g.params {
		if math.IsInf(float64(v), 0) && !math.IsInf(f.params[i], 0) {
			return nil, fmt.Errorf("flow: Flow.Float32: parameter %d (%g) overflows float32", i, f.params[i])
		}
	}
	return g, nil
}

// why32 gives the reason a coupling layer has no float32 path, or "".
func (c *Coupling) why32() string {
	if couplingFuncOf[float32](c.h) == nil {
		return fmt.Sprintf("the coupling function %T has no float32 path (a CouplingFunc of your own computes in float64)", c.h)
	}
	return ""
}

// Float64 returns the float64 flow of g's parameters, exactly: a new Flow
// with g's layers and base, through the model format (MarshalFlow and
// UnmarshalFlow), whose parameters are the float64 values of g's.
func (g *Flow32) Float64() (*Flow, error) {
	b, err := MarshalFlow(g.f)
	if err != nil {
		return nil, fmt.Errorf("flow: Flow32.Float64: %w", err)
	}
	f, err := UnmarshalFlow(b)
	if err != nil {
		return nil, fmt.Errorf("flow: Flow32.Float64: %w", err)
	}
	cvt32to64(f.params, g.params)
	return f, nil
}

// storeTo writes g's parameters, exactly, into f, the flow g was made
// from.
func (g *Flow32) storeTo(f *Flow) { cvt32to64(f.params, g.params) }

// Dim returns D.
func (g *Flow32) Dim() int { return g.f.d }

// ContextDim returns C, 0 for an unconditional flow.
func (g *Flow32) ContextDim() int { return g.f.c }

// NumParams returns the number of parameters.
func (g *Flow32) NumParams() int { return len(g.params) }

// Params returns the flat parameter vector (a view, not a copy), laid out
// as the float64 flow's.
func (g *Flow32) Params() []float32 { return g.params }

// workspace32 is one float32 pass over up to rows rows, as workspace is
// for float64: the batch at every layer boundary, each layer's work and the
// base's, the log-determinants, the rows' log-densities, the backward
// deltas and the shard's contexts.
type workspace32 struct {
	bufs   [][]float32
	work   [][]float32
	bwork  []float32 // the base's work
	out    []float64 // per-row log-densities (nllBackward)
	logdet []float32
	dld    []float32
	dA, dB []float32
	cbuf   []float32 // the contexts of the pass, rows×C
	ctx    []float32 // cbuf[:n·C] during a pass of a conditional flow, else nil
	dx     []float32 // the delta at the current point of the backward walk (a view of dA or dB)
	drop   dropState // the dropout of the shard's training pass (workspace.drop); off in evaluation
}

func (g *Flow32) newWorkspace(rows int) *workspace32 {
	f := g.f
	L := len(f.layers)
	ws := &workspace32{bufs: make([][]float32, L+1), work: make([][]float32, L)}
	for i := range ws.bufs {
		ws.bufs[i] = make([]float32, rows*f.d)
	}
	for i, l := range f.layers {
		ws.work[i] = make([]float32, l.WorkLen(rows))
	}
	ws.bwork = make([]float32, f.base.workLen(rows))
	ws.out = make([]float64, rows)
	ws.logdet = make([]float32, rows)
	ws.dld = make([]float32, rows)
	ws.dA = make([]float32, rows*f.d)
	ws.dB = make([]float32, rows*f.d)
	ws.cbuf = make([]float32, rows*f.c)
	return ws
}

func (g *Flow32) getWS() *workspace32 {
	return takeFree(&g.mu, &g.freeWS, func() *workspace32 { return g.newWorkspace(evalShard) })
}

func (g *Flow32) putWS(ws *workspace32) { giveFree(&g.mu, &g.freeWS, ws) }

// setContexts converts the n rows of contexts ctx (nil for an
// unconditional flow) into ws.
func (g *Flow32) setContexts(ws *workspace32, ctx []float64, n int) {
	ws.ctx = nil
	if ctx != nil {
		ws.ctx = ws.cbuf[:n*g.f.c]
		cvt64to32(ws.ctx, ctx)
	}
}

// window returns layer l's parameters.
func (g *Flow32) window(l int) []float32 { return g.params[g.f.offs[l]:g.f.offs[l+1]] }

// baseWindow returns the base's window of v, the parameters or a gradient.
func (g *Flow32) baseWindow(v []float32) []float32 { return v[g.f.offs[len(g.layers)]:len(g.params)] }

// inversePass maps the n rows of x (float64, n×D) with their contexts
// down to z = bufs[0][:n·D], leaving log|det ∂z/∂x| in logdet[:n].
func (g *Flow32) inversePass(ws *workspace32, x, ctx []float64, n int) {
	g.loadRows(ws, x, ctx, n)
	for l := len(g.layers) - 1; l >= 0; l-- {
		g.inverseLayer(ws, l, n)
	}
}

// loadRows converts the n rows of x (float64, n×D) and their contexts into
// the top of ws, bufs[L][:n·D], and clears the log-dets.
func (g *Flow32) loadRows(ws *workspace32, x, ctx []float64, n int) {
	cvt64to32(ws.bufs[len(g.layers)][:n*g.f.d], x)
	g.setContexts(ws, ctx, n)
	clear(ws.logdet[:n])
}

// forwardPass maps the n rows of z (float64, n×D) with their contexts up
// to x = bufs[L][:n·D], leaving log|det ∂x/∂z| in logdet[:n]. With draws
// the rows are the base's draws (Base.draw), which the base first maps to
// its points z = bufs[0][:n·D] (fromDraws, in float32).
func (g *Flow32) forwardPass(ws *workspace32, z, ctx []float64, n int, draws bool) {
	d := g.f.d
	cvt64to32(ws.bufs[0][:n*d], z)
	g.setContexts(ws, ctx, n)
	if draws {
		g.base.fromDraws32(g.baseWindow(g.params), ws.bufs[0][:n*d], ws.ctx, ws.bwork)
	}
	ld := ws.logdet[:n]
	clear(ld)
	for l := range g.layers {
		g.layers[l].forward32(g.window(l), ws.bufs[l+1][:n*d], ws.bufs[l][:n*d], ws.ctx, ld, ws.work[l])
	}
}

// nllBackward follows inversePass over n rows. It returns the summed
// negative log-likelihood Σ_i −log p(x_i), in float64, and adds its
// gradient with respect to the parameters into grad: as Flow.nllBackward,
// the base gives ∂ℓ/∂z and its parameters' share (base32.nllGrad32),
// ∂ℓ/∂ld = −1, and the layers are walked from the base side.
func (g *Flow32) nllBackward(ws *workspace32, n int, grad []float32) float64 {
	loss := g.nllStart(ws, n, grad)
	g.walkInverseBackward(ws, n, grad, 0, len(g.layers))
	return loss
}

// nllStart is the base's part of nllBackward (Flow.nllStart): it returns
// the summed loss, sets ∂ℓ/∂ld = −1 in ws.dld and leaves ∂ℓ/∂z in ws.dx.
func (g *Flow32) nllStart(ws *workspace32, n int, grad []float32) float64 {
	d := g.f.d
	z := ws.bufs[0][:n*d]
	bp := g.baseWindow(g.params)
	g.base.logProbRows32(bp, ws.out[:n], z, ws.ctx, ws.logdet[:n], ws.bwork)
	loss := 0.0
	for _, v := range ws.out[:n] {
		loss -= v
	}
	dz := ws.dA[:n*d]
	g.base.nllGrad32(bp, dz, nil, z, ws.ctx, ws.bwork, g.baseWindow(grad))
	dld := ws.dld[:n]
	for i := range dld {
		dld[i] = -1
	}
	ws.dx = dz
	return loss
}

// eval32Job evaluates a batch on the pool in shards of evalShard rows, as
// evalJob does for float64.
type eval32Job struct {
	runState
	g      *Flow32
	op     evalOp // opLogProb, opInverse, opForward or opSample
	src    []float64
	ctx    []float64
	dst    []float64 // rows×D, or rows (LogProb)
	logdet []float64 // rows, or nil
}

func (j *eval32Job) runShard(_, s int) {
	g := j.g
	d, c := g.f.d, g.f.c
	n := len(j.src) / d
	lo := s * evalShard
	hi := min(lo+evalShard, n)
	m := hi - lo
	var ctx []float64
	if j.ctx != nil {
		ctx = j.ctx[lo*c : hi*c]
	}
	ws := g.getWS()
	defer g.putWS(ws)
	src := j.src[lo*d : hi*d]
	bp := g.baseWindow(g.params)
	switch j.op {
	case opLogProb:
		g.inversePass(ws, src, ctx, m)
		g.base.logProbRows32(bp, j.dst[lo:hi], ws.bufs[0][:m*d], ws.ctx, ws.logdet[:m], ws.bwork)
		return
	case opInverse:
		g.inversePass(ws, src, ctx, m)
		cvt32to64(j.dst[lo*d:hi*d], ws.bufs[0][:m*d])
	default: // opForward, opSample
		g.forwardPass(ws, src, ctx, m, j.op == opSample)
		cvt32to64(j.dst[lo*d:hi*d], ws.bufs[len(g.layers)][:m*d])
	}
	if j.logdet == nil {
		return
	}
	if j.op == opSample {
		// log q(x) = log p_base(z) − log|det ∂x/∂z|, z the base's point
		// as the layers read it (in float32).
		ld := ws.logdet[:m]
		for r := range ld {
			ld[r] = -ld[r]
		}
		g.base.logProbRows32(bp, j.logdet[lo:hi], ws.bufs[0][:m*d], ws.ctx, ld, ws.bwork)
		return
	}
	cvt32to64(j.logdet[lo:hi], ws.logdet[:m])
}

func (g *Flow32) getJob() *eval32Job {
	return takeFree(&g.mu, &g.freeJob, func() *eval32Job { return &eval32Job{g: g} })
}

// eval runs op over the n rows of src on the pool.
func (g *Flow32) eval(op evalOp, dst, src, ctx, logdet []float64, n int) {
	if n == 0 {
		return
	}
	j := g.getJob()
	j.op, j.dst, j.src, j.ctx, j.logdet = op, dst, src, ctx, logdet
	shards := (n + evalShard - 1) / evalShard
	runShards(j, &j.runState, shards, workersFor(0, shards))
	j.dst, j.src, j.ctx, j.logdet = nil, nil, nil, nil
	giveFree(&g.mu, &g.freeJob, j)
}

// LogProb writes log p(x_i) for each row of x (n×D) into dst (length n;
// nil allocates) and returns it, computed in float32 (the final sum per
// row in float64). It panics for a conditional flow (see LogProbGiven).
func (g *Flow32) LogProb(dst []float64, x mat.Matrix) []float64 {
	g.f.unconditional("Flow32.LogProb", "LogProbGiven")
	return g.logProb("Flow32.LogProb", dst, x, nil)
}

// LogProbGiven writes log p(x_i | c_i) for each row of x with its context,
// row i of c (n×C), into dst and returns it; c must be nil for an
// unconditional flow.
func (g *Flow32) LogProbGiven(dst []float64, x, c mat.Matrix) []float64 {
	return g.logProb("Flow32.LogProbGiven", dst, x, c)
}

func (g *Flow32) logProb(method string, dst []float64, x, c mat.Matrix) []float64 {
	data, n := g.f.rows(method, "x", x)
	ctx := g.f.contextsOf(method, "x", c, n)
	if dst == nil {
		dst = make([]float64, n)
	}
	checkLen(method, "dst", dst, n)
	g.eval(opLogProb, dst, data, ctx, nil, n)
	return dst
}

// Inverse writes z = g(x | c) for the rows of x (n×D) with their contexts
// (nil for an unconditional flow) into dst (an empty dst is resized) and,
// if logdet is not nil, log|det ∂z/∂x| per row into logdet.
func (g *Flow32) Inverse(dst *mat.Dense, x, c mat.Matrix, logdet []float64) {
	const method = "Flow32.Inverse"
	data, n := g.f.rows(method, "x", x)
	ctx := g.f.contextsOf(method, "x", c, n)
	out := g.f.dstRows(method, dst, n)
	checkLen(method, "logdet", logdet, n)
	g.eval(opInverse, out, data, ctx, logdet, n)
}

// Forward writes x = f(z | c) for the rows of z (n×D) with their contexts
// (nil for an unconditional flow) into dst (an empty dst is resized) and,
// if logdet is not nil, log|det ∂x/∂z| per row into logdet.
func (g *Flow32) Forward(dst *mat.Dense, z, c mat.Matrix, logdet []float64) {
	const method = "Flow32.Forward"
	data, n := g.f.rows(method, "z", z)
	ctx := g.f.contextsOf(method, "z", c, n)
	out := g.f.dstRows(method, dst, n)
	checkLen(method, "logdet", logdet, n)
	g.eval(opForward, out, data, ctx, logdet, n)
}

// SampleGiven draws one sample per row of dst (n×D, which must not be
// empty) given its context, row i of c (nil for an unconditional flow),
// with the base's draws from rnd in row order (the draws of the float64
// flow's Sample: standard normal ε, mapped in float32 to z = μ + e^s ⊙ ε
// by a Gaussian base; for a mixture the points themselves, computed in
// float64 from the float32 parameters), and if logq is not nil writes
// log q(x_i | c_i) into it.
func (g *Flow32) SampleGiven(dst *mat.Dense, logq []float64, c mat.Matrix, rnd *rand.Rand) {
	g.sample("Flow32.SampleGiven", dst, logq, c, rnd)
}

// Sample is SampleGiven for an unconditional flow, as Flow.Sample: it
// draws what the float64 flow's Sample draws from the same rnd. It panics
// if the flow is conditional (see SampleGiven).
func (g *Flow32) Sample(dst *mat.Dense, logq []float64, rnd *rand.Rand) {
	g.f.unconditional("Flow32.Sample", "SampleGiven")
	g.sample("Flow32.Sample", dst, logq, nil, rnd)
}

func (g *Flow32) sample(method string, dst *mat.Dense, logq []float64, c mat.Matrix, rnd *rand.Rand) {
	checkArg(method, "dst", dst)
	n, _ := dst.Dims()
	out := g.f.dstRows(method, dst, n)
	ctx := g.f.contextsOf(method, "dst", c, n)
	checkLen(method, "logq", logq, n)
	checkArg(method, "rnd", rnd)
	g.base.draw32(g.baseWindow(g.params), out, rnd)
	g.eval(opSample, out, out, ctx, logq, n)
}

// MaxLikelihood32 is MaxLikelihood for a Flow32: the mean negative
// log-likelihood and its gradient, in float32, by backpropagation through
// the layers' float32 passes. A minibatch is cut into shards of a fixed size
// that run on up to Workers goroutines; each shard's gradient is its own
// float32 vector, and the shards' vectors are summed in shard order, so
// the result is bit-identical for any number of workers. The loss is summed
// over rows in float64.
//
// As for MaxLikelihood, BatchNorm layers are in training mode, normalising
// by the minibatch's statistics (summed over rows in float64), and
// SetDropout trains with dropout, with the float64 objective's masks.
//
// A MaxLikelihood32 is not safe for concurrent use; it reuses its buffers,
// so that steady-state training allocates nothing.
type MaxLikelihood32 struct {
	runState
	shardSums32
	g       *Flow32
	shard   int
	workers int
	ws      []*workspace32 // per runner
	src     []float64
	ctx     []float64
	n       int
	packs   prepack32Job
	bn      *bnTrain // a flow with BatchNorm layers: the staged pass, or nil
	drop    dropSchedule
}

// shardSums32 is what the float32 objectives (MaxLikelihood32,
// ReverseKL32) keep per shard, and their sum in shard order: a gradient
// vector and a loss for each shard.
type shardSums32 struct {
	grads  [][]float32 // per shard, zero between calls
	losses []float64   // per shard
	sum    sumJob[float32]
	dirty  bool
}

// begin readies a call of shards shards over np parameters: their
// gradient vectors zero.
func (s *shardSums32) begin(shards, np int) {
	for len(s.grads) < shards {
		s.grads = append(s.grads, make([]float32, np))
		s.losses = append(s.losses, 0)
	}
	if s.dirty {
		for _, v := range s.grads {
			clear(v)
		}
	}
	s.dirty = true
}

// end writes the mean over the call's n rows of the shards' gradients into
// grad, summed in shard order on up to runners goroutines, and returns the
// mean of their losses, summed in float64.
func (s *shardSums32) end(grad []float32, shards, n, runners int) float64 {
	s.sum.zero = true
	s.sum.run(grad, s.grads[:shards], float32(1/float64(n)), runners)
	s.dirty = false
	loss := 0.0
	for _, l := range s.losses[:shards] {
		loss += l
	}
	return loss / float64(n)
}

// batch returns the rows of x (the argument named what) and their
// contexts c for an objective's method, checked as Flow's methods check
// them, and panics for an empty batch or a gradient of the wrong length.
func (g *Flow32) batch(method, what string, grad []float32, x, c mat.Matrix) (data, ctx []float64, n int) {
	data, n = g.f.rows(method, what, x)
	ctx = g.f.contextsOf(method, what, c, n)
	if n == 0 {
		panic("flow: " + method + ": empty batch")
	}
	if len(grad) != g.NumParams() {
		panic(fmt.Sprintf("flow: %s: gradient of length %d, want %d", method, len(grad), g.NumParams()))
	}
	return data, ctx, n
}

// NewMaxLikelihood32 returns the maximum-likelihood objective of g, run on
// up to workers goroutines (≤ 0: GOMAXPROCS) in shards of shardSize rows
// (≤ 0: DefaultShardSize).
func NewMaxLikelihood32(g *Flow32, workers, shardSize int) *MaxLikelihood32 {
	if g == nil {
		panic("flow: NewMaxLikelihood32: nil flow")
	}
	if err := g.backwardErr(false); err != nil {
		panic("flow: NewMaxLikelihood32: " + err.Error())
	}
	if shardSize <= 0 {
		shardSize = DefaultShardSize
	}
	return &MaxLikelihood32{g: g, shard: shardSize, workers: workers, packs: prepack32Job{g: g}, bn: newBNTrain(g.f)}
}

// LossGrad returns the mean negative log-likelihood of the rows of x and
// writes its gradient with respect to the parameters into grad (length
// NumParams). It panics for a conditional flow (see LossGradGiven).
func (m *MaxLikelihood32) LossGrad(grad []float32, x mat.Matrix) float64 {
	m.g.f.unconditional("MaxLikelihood32.LossGrad", "LossGradGiven")
	return m.LossGradGiven(grad, x, nil)
}

// SetDropout is MaxLikelihood.SetDropout: the same masks for the same
// seed and step.
func (m *MaxLikelihood32) SetDropout(p float64, seed uint64) {
	if err := checkDropout("MaxLikelihood32.SetDropout", p); err != nil {
		panic(err.Error())
	}
	m.drop.p, m.drop.seed = p, seed
}

// SetStep is MaxLikelihood.SetStep: each call of LossGrad or
// LossGradGiven advances the step by one.
func (m *MaxLikelihood32) SetStep(step uint64) { m.drop.step = step }

// advance moves to the next step's dropout masks.
func (m *MaxLikelihood32) advance() { m.drop.step++ }

// LossGradGiven is LossGrad for the rows of x given their contexts, the
// rows of c (nil for an unconditional flow).
func (m *MaxLikelihood32) LossGradGiven(grad []float32, x, c mat.Matrix) float64 {
	const method = "MaxLikelihood32.LossGradGiven"
	defer m.advance()
	f := m.g.f
	data, ctx, n := m.g.batch(method, "x", grad, x, c)
	shards := (n + m.shard - 1) / m.shard
	runners := workersFor(m.workers, shards)
	// One workspace per runner, or per shard for the staged pass of a flow
	// with BatchNorm layers (bnTrain).
	need := runners
	if m.bn != nil {
		m.bn.prepare(f.d, shards)
		need = shards
	}
	for len(m.ws) < need {
		m.ws = append(m.ws, m.g.newWorkspace(m.shard))
	}
	m.begin(shards, m.g.NumParams())
	m.src, m.ctx, m.n = data, ctx, n
	if m.packs.prepack(min(m.shard, n), shards, m.workers) {
		defer m.packs.unpack()
	}
	if m.bn != nil {
		m.bn.lossGrad(m, &m.runState, n, m.shard, shards, runners)
	} else {
		runShards(m, &m.runState, shards, runners)
	}
	m.src, m.ctx = nil, nil
	return m.end(grad, shards, n, runners)
}

func (m *MaxLikelihood32) runShard(r, s int) {
	if m.bn != nil {
		bnRunShard[float32](m.bn, m, m.g.f, s, m.n)
		return
	}
	d, c := m.g.f.d, m.g.f.c
	lo := s * m.shard
	hi := min(lo+m.shard, m.n)
	var ctx []float64
	if m.ctx != nil {
		ctx = m.ctx[lo*c : hi*c]
	}
	ws := m.ws[r]
	ws.drop = m.drop.state(lo) // the masks of the shard's rows, whichever runner (dropout.go)
	m.g.inversePass(ws, m.src[lo*d:hi*d], ctx, hi-lo)
	m.losses[s] = m.g.nllBackward(ws, hi-lo, m.grads[s])
	ws.drop = dropState{}
}

// Adam32 is Adam over float32 parameters and gradients, computed in
// float32 with its moments m and v in float32, as PyTorch trains in
// float32: β₂ = 0.999 keeps v within float32's range for gradients above
// about 1e-19, and ε = 1e-8 is a normal float32. The fields are Adam's;
// the step's constants are formed in float64, as Adam's, and rounded once
// to float32.
type Adam32 struct {
	LearningRate float64
	Beta1, Beta2 float64
	Epsilon      float64
	WeightDecay  float64
	adamState[float32]
}

// NewAdam32 returns Adam32 with Adam's defaults (β₁ = 0.9, β₂ = 0.999,
// ε = 1e-8) and the given learning rate.
func NewAdam32(lr float64) *Adam32 {
	return &Adam32{LearningRate: lr, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8}
}

// Step updates params in place from grad, in chunks on the package's pool
// with the same result for any number of goroutines.
func (a *Adam32) Step(params, grad []float32) {
	a.step("Adam32.Step", a.LearningRate, a.Beta1, a.Beta2, a.Epsilon, a.WeightDecay, params, grad)
}

// adamStep32 is one Adam step over float32 vectors, adam32Ref's
// operations: by adamKernel32 on whole vectors of 8 where there is one
// (amd64, where kernHasCvt says the float32 vector kernels are), by the
// reference on the rest.
func adamStep32(p, m, v, g []float32, c *adamConsts) {
	var c32 [8]float32
	for i, x := range c {
		c32[i] = float32(x)
	}
	if kernHasCvt && kernUseAsm {
		if k := len(g) &^ 7; k > 0 {
			_, _, _ = p[k-1], m[k-1], v[k-1]
			adamKernel32(&p[0], &m[0], &v[0], &g[0], k, &c32)
			p, m, v, g = p[k:], m[k:], v[k:], g[k:]
		}
	}
	adam32Ref(p, m, v, g, &c32)
}

// adam32Ref is adamRef in float32, with the constants c rounded to
// float32 (β₁, 1 − β₁, β₂, 1 − β₂, the step lr/(1 − β₁ᵗ), 1/√(1 − β₂ᵗ), ε,
// lr·λ):
//
//	m ← β₁m + (1 − β₁)g,  v ← β₂v + ((1 − β₂)g)·g,
//	p ← p − ((step·m)/(√v·(1/√(1 − β₂ᵗ)) + ε) + lr·λ·p),
//
// each operation rounded to float32 (the conversions forbid fusing), the
// square root correctly rounded.
func adam32Ref(p, m, v, g []float32, c *[8]float32) {
	b1, c1, b2, c2, step, isc2, eps, lrwd := c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
	p, m, v = p[:len(g)], m[:len(g)], v[:len(g)]
	for i, g := range g {
		mi := float32(b1*m[i]) + float32(c1*g)
		vi := float32(float32(c2*g)*g) + float32(b2*v[i])
		m[i], v[i] = mi, vi
		d := float32(float32(float32(math.Sqrt(float64(vi)))*isc2) + eps)
		p[i] -= float32(float32(step*mi)/d) + float32(lrwd*p[i])
	}
}
