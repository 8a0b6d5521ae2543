// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"unicode"

	"gonum.org/v1/gonum/mat"
)

// evalShard is the number of rows that LogProb, Forward, Inverse and Sample
// give each runner at a time. Each shard packs the weights of every layer
// for the kernels, so larger shards amortise that better: 128 rows evaluate
// the benchmark presets 5–15 % faster than 64 (BenchmarkLogProb, Sample),
// while 256 would leave one of two cores idle on a batch of 256.
const evalShard = 128

// Flow is a normalizing flow: a base distribution on R^D (the standard
// normal unless NewWithBase gives another) pushed through a list of layers.
// Layers are listed from the base towards the data: Forward applies
// Layers[0] first, Inverse applies the last layer first, so
// x = f^A(f^B(f^C(z))) is a Flow of [C, B, A].
//
// Every trainable parameter lives in one flat vector, Params: each layer in
// a window of its own in the order of the layers, then the base's
// parameters, if it has any, after the last layer's.
//
// The methods of a Flow may be called concurrently, except that nothing may
// write the parameters while another call reads them.
type Flow struct {
	layers []Layer
	base   Base
	d      int
	c      int // the context dimension C: 0 for an unconditional flow
	params []float64
	offs   []int    // offs[l] is the start of layer l's window; offs[L] is the end of the layers' and the start of the base's
	names  []string // the data's column names, or nil
	cnames []string // the context's column names, or nil

	// Free lists of evaluation workspaces (evalShard rows) and jobs. Unlike
	// a sync.Pool they survive garbage collections, so that steady-state
	// evaluation allocates nothing; they hold at most as many entries as
	// calls and runners ever ran at once.
	mu      sync.Mutex
	freeWS  []*workspace
	freeJob []*evalJob
}

func (f *Flow) getWS() *workspace {
	return takeFree(&f.mu, &f.freeWS, func() *workspace { return f.newWorkspace(evalShard) })
}

func (f *Flow) putWS(ws *workspace) { giveFree(&f.mu, &f.freeWS, ws) }

func (f *Flow) getJob() *evalJob {
	return takeFree(&f.mu, &f.freeJob, func() *evalJob { return &evalJob{f: f} })
}

func (f *Flow) putJob(j *evalJob) { giveFree(&f.mu, &f.freeJob, j) }

// takeFree takes the last entry of the free list *list under mu, or
// returns mk() when the list is empty.
func takeFree[T any](mu *sync.Mutex, list *[]T, mk func() T) T {
	mu.Lock()
	defer mu.Unlock()
	if n := len(*list); n > 0 {
		v := (*list)[n-1]
		*list = (*list)[:n-1]
		return v
	}
	return mk()
}

// giveFree puts v back on the free list *list under mu.
func giveFree[T any](mu *sync.Mutex, list *[]T, v T) {
	mu.Lock()
	*list = append(*list, v)
	mu.Unlock()
}

// New returns a flow over the given layers, listed from the base towards the
// data, with the standard normal base N(0, I). It binds the layers'
// parameters to the flow's flat vector, keeping their current values. It
// returns an error if there are no layers, one is nil, their dimensions
// differ, or the parameters or the evaluation workspace would exceed the
// limits (2^28 parameters; 2^28 values, 2 GiB, of workspace for a shard of
// 128 rows).
func New(layers ...Layer) (*Flow, error) {
	return newFlow("New", nil, layers)
}

// NewWithBase returns a flow over the given layers, listed from the base
// towards the data, with the base distribution base (docs/design.md §1.9).
// It binds the layers' parameters and then the base's to the flow's flat
// vector, keeping their current values: the base's window follows the
// last layer's (BaseParamRange). A conditional base (ContextDim C > 0)
// makes the flow conditional; its C must then equal that of the
// conditional layers, if there are any. It returns an error for a nil base
// or one whose dimension is not the layers', and as New does.
func NewWithBase(base Base, layers ...Layer) (*Flow, error) {
	if isNil(base) {
		return nil, errors.New("flow: NewWithBase: base is nil")
	}
	return newFlow("NewWithBase", base, layers)
}

// newFlow is New (base nil: the standard normal) and NewWithBase.
func newFlow(method string, base Base, layers []Layer) (*Flow, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("flow: %s: no layers", method)
	}
	for i, l := range layers {
		if isNilLayer(l) {
			return nil, fmt.Errorf("flow: %s: layer %d is nil", method, i)
		}
	}
	d := layers[0].Dim()
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: %s: layer 0 (%T): %w", method, layers[0], err)
	}
	offs := make([]int, len(layers)+1)
	total := flowWork(d, float64(len(layers)))
	c, cl := 0, 0 // the context dimension, and the first layer that has it
	for i, l := range layers {
		if l.Dim() != d {
			return nil, fmt.Errorf("flow: %s: layer %d (%T) has dimension %d, layer 0 has %d", method, i, l, l.Dim(), d)
		}
		switch lc := l.ContextDim(); {
		case lc < 0 || lc > maxDim:
			return nil, fmt.Errorf("flow: %s: layer %d (%T) has context dimension %d", method, i, l, lc)
		case lc > 0 && c == 0:
			c, cl = lc, i
		case lc > 0 && lc != c:
			return nil, fmt.Errorf("flow: %s: layer %d (%T) has context dimension %d, layer %d has %d", method, i, l, lc, cl, c)
		}
		np, nw := l.NumParams(), l.WorkLen(evalShard)
		if np < 0 || nw < 0 {
			return nil, fmt.Errorf("flow: %s: layer %d (%T) has %d parameters and a workspace of %d", method, i, l, np, nw)
		}
		total = total.add(footprint{float64(np), float64(nw)})
		if err := checkSize("the flow", total); err != nil {
			return nil, fmt.Errorf("flow: %s: %w", method, err)
		}
		offs[i+1] = offs[i] + np
	}
	if base == nil {
		base = &StdNormalBase{d: d}
	}
	if base.Dim() != d {
		return nil, fmt.Errorf("flow: %s: the base (%T) has dimension %d, the layers %d", method, base, base.Dim(), d)
	}
	switch bc := base.ContextDim(); {
	case bc > 0 && c == 0:
		c = bc
	case bc > 0 && bc != c:
		return nil, fmt.Errorf("flow: %s: the base (%T) has context dimension %d, layer %d has %d", method, base, bc, cl, c)
	}
	nb := base.NumParams()
	total = total.add(footprint{float64(nb), float64(base.workLen(evalShard))})
	// The contexts' share of the workspace: ∂L/∂c and the repeated
	// contexts of SampleEach, C values a row each.
	total = total.add(footprint{work: 2 * evalShard * float64(c)})
	if err := checkSize("the flow", total); err != nil {
		return nil, fmt.Errorf("flow: %s: %w", method, err)
	}
	L := len(layers)
	f := &Flow{layers: append([]Layer(nil), layers...), base: base, d: d, c: c, offs: offs}
	f.params = make([]float64, offs[L]+nb)
	for i, l := range f.layers {
		l.BindParams(f.params[offs[i]:offs[i+1]:offs[i+1]])
	}
	base.bindParams(f.params[offs[L]:len(f.params):len(f.params)])
	return f, nil
}

// isNil says whether v is nil or a nil pointer, map, slice, func or
// channel in an interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// isNilLayer says whether l is nil, a nil pointer, or an Inverted that
// wraps one.
func isNilLayer(l Layer) bool {
	if v, ok := l.(*Inverted); ok {
		return v == nil || isNilLayer(v.L)
	}
	return isNil(l)
}

// check panics if f is nil: a method of a nil *Flow is a caller's mistake,
// named in the message.
func (f *Flow) check(method string) {
	if f == nil {
		panic(fmt.Sprintf("flow: %s: nil *Flow", method))
	}
}

// checkArg panics if the argument name of method is nil.
func checkArg(method, name string, v any) {
	if isNil(v) {
		panic(fmt.Sprintf("flow: %s: %s is nil", method, name))
	}
}

// Dim returns D.
func (f *Flow) Dim() int {
	f.check("Flow.Dim")
	return f.d
}

// ContextDim returns C, the width of the context the flow conditions on: 0
// for an unconditional flow, else the context dimension of its conditional
// layers (New requires them to agree; layers without a context pass it on).
func (f *Flow) ContextDim() int {
	f.check("Flow.ContextDim")
	return f.c
}

// unconditional panics unless f has no context: method takes none, and
// given names the method that does.
func (f *Flow) unconditional(method, given string) {
	f.check(method)
	if f.c > 0 {
		panic(fmt.Sprintf("flow: %s: the flow is conditional (C = %d): use %s", method, f.c, given))
	}
}

// Layers returns the layers, base side first.
func (f *Flow) Layers() []Layer {
	f.check("Flow.Layers")
	return append([]Layer(nil), f.layers...)
}

// Base returns the base distribution: a *StdNormalBase for a flow made by
// New.
func (f *Flow) Base() Base {
	f.check("Flow.Base")
	return f.base
}

// NumParams returns the number of trainable parameters, the layers' and the
// base's.
func (f *Flow) NumParams() int {
	f.check("Flow.NumParams")
	return len(f.params)
}

// Params returns the flat parameter vector. It is the flow's own storage:
// writing it changes the flow.
func (f *Flow) Params() []float64 {
	f.check("Flow.Params")
	return f.params
}

// ParamRange returns the window [lo, hi) of layer l in Params. It panics
// unless 0 ≤ l < len(Layers()). The base's window is BaseParamRange.
func (f *Flow) ParamRange(l int) (lo, hi int) {
	f.check("Flow.ParamRange")
	if l < 0 || l >= len(f.layers) {
		panic(fmt.Sprintf("flow: Flow.ParamRange: layer %d out of range [0, %d)", l, len(f.layers)))
	}
	return f.offs[l], f.offs[l+1]
}

// BaseParamRange returns the window [lo, hi) of the base's parameters in
// Params: after the last layer's, up to NumParams (empty for the standard
// normal).
func (f *Flow) BaseParamRange() (lo, hi int) {
	f.check("Flow.BaseParamRange")
	return f.offs[len(f.layers)], len(f.params)
}

// baseGrad returns the base's window of the gradient vector grad.
func (f *Flow) baseGrad(grad []float64) []float64 {
	return grad[f.offs[len(f.layers)]:len(f.params)]
}

// SetParams copies p into the flow's parameters. It panics if len(p) is not
// NumParams.
func (f *Flow) SetParams(p []float64) {
	f.check("Flow.SetParams")
	if len(p) != len(f.params) {
		panic(fmt.Sprintf("flow: Flow.SetParams: %d parameters, want %d", len(p), len(f.params)))
	}
	copy(f.params, p)
}

// Names returns the names of the data's D columns (a CSV header, say), or
// nil if the flow has none. The names travel with the model file.
func (f *Flow) Names() []string {
	f.check("Flow.Names")
	return append([]string(nil), f.names...)
}

// SetNames sets the names of the data's D columns; nil removes them. It
// returns an error unless there are D names, each non-empty, distinct and
// free of control characters.
func (f *Flow) SetNames(names []string) error {
	f.check("Flow.SetNames")
	if names == nil {
		f.names = nil
		return nil
	}
	if err := checkNames(names, f.d); err != nil {
		return fmt.Errorf("flow: Flow.SetNames: %w", err)
	}
	for i, n := range names {
		for j, m := range f.cnames {
			if n == m {
				return fmt.Errorf("flow: Flow.SetNames: name %d is %q, the name of context column %d", i, n, j)
			}
		}
	}
	f.names = append([]string(nil), names...)
	return nil
}

// ContextNames returns the names of the context's C columns, or nil if the
// flow has none. They travel with the model file.
func (f *Flow) ContextNames() []string {
	f.check("Flow.ContextNames")
	return append([]string(nil), f.cnames...)
}

// SetContextNames sets the names of the context's C columns; nil removes
// them. It returns an error unless there are C names, each non-empty,
// distinct, free of control characters and different from the data's
// column names.
func (f *Flow) SetContextNames(names []string) error {
	f.check("Flow.SetContextNames")
	if names == nil {
		f.cnames = nil
		return nil
	}
	if err := checkNames(names, f.c); err != nil {
		return fmt.Errorf("flow: Flow.SetContextNames: %w", err)
	}
	for i, n := range names {
		for j, m := range f.names {
			if n == m {
				return fmt.Errorf("flow: Flow.SetContextNames: context name %d is %q, the name of data column %d", i, n, j)
			}
		}
	}
	f.cnames = append([]string(nil), names...)
	return nil
}

// checkNames returns an error unless names are d distinct non-empty strings
// without control characters.
func checkNames(names []string, d int) error {
	if len(names) != d {
		return fmt.Errorf("%d names for %d dimensions", len(names), d)
	}
	seen := make(map[string]int, d)
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("name %d is empty", i)
		}
		for _, r := range n {
			if unicode.IsControl(r) {
				return fmt.Errorf("name %d (%q) has a control character", i, n)
			}
		}
		if j, ok := seen[n]; ok {
			return fmt.Errorf("names %d and %d are both %q", j, i, n)
		}
		seen[n] = i
	}
	return nil
}

// workspace holds one pass over up to rows rows: the batch at every layer
// boundary (bufs[l] is the input of layer l in the forward direction), each
// layer's work and the base's, the log-determinants and the backward
// deltas.
type workspace struct {
	rows   int
	bufs   [][]float64
	work   [][]float64
	bwork  []float64 // the base's work
	eps    []float64 // the base draws of drawPass, rows×D (a view, not owned), or nil
	logdet []float64
	dA, dB []float64
	dld    []float64
	out    []float64 // per-row results
	ctx    []float64 // the context rows of the pass (a view, not owned), or nil
	dc     []float64 // ∂L/∂c, rows×C
	dx     []float64 // the delta at the current point of the backward walk, ∂L/∂x after nllBackward (a view of dA or dB)
	crep   []float64 // the contexts of SampleEach's rows, rows×C
	pgrad  []float64 // GradLogProb's discarded parameter gradient, made on first use
	// drop is the dropout of the shard's training pass (dropout.go), set by
	// the maximum-likelihood objective before each shard; the zero value,
	// which every evaluation workspace keeps, is off.
	drop dropState
}

func (f *Flow) newWorkspace(rows int) *workspace {
	L := len(f.layers)
	ws := &workspace{rows: rows}
	ws.bufs = make([][]float64, L+1)
	for i := range ws.bufs {
		ws.bufs[i] = make([]float64, rows*f.d)
	}
	ws.work = make([][]float64, L)
	for i, l := range f.layers {
		ws.work[i] = make([]float64, l.WorkLen(rows))
	}
	ws.bwork = make([]float64, f.base.workLen(rows))
	ws.logdet = make([]float64, rows)
	ws.dA = make([]float64, rows*f.d)
	ws.dB = make([]float64, rows*f.d)
	ws.dld = make([]float64, rows)
	ws.out = make([]float64, rows)
	ws.dc = make([]float64, rows*f.c)
	ws.crep = make([]float64, rows*f.c)
	return ws
}

// inversePass maps the n rows of x, with their contexts ctx (n×C, nil when
// C = 0), down to z = bufs[0][:n·D], leaving log|det ∂z/∂x| in logdet[:n].
// x is copied in, so it may be any buffer; ctx is kept in ws for the
// backward walk.
func (f *Flow) inversePass(ws *workspace, x, ctx []float64, n int) {
	L := len(f.layers)
	copy(ws.bufs[L][:n*f.d], x)
	ws.ctx = ctx
	ld := ws.logdet[:n]
	clear(ld)
	for l := L - 1; l >= 0; l-- {
		f.inverseLayer(ws, l, n)
	}
}

// inverseLayer runs layer l's Inverse on the n rows of ws.bufs[l+1] into
// ws.bufs[l], given ws.ctx, adding to ws.logdet: with the shard's dropout
// (ws.drop, dropout.go) when it is on and the layer can drop units.
func (f *Flow) inverseLayer(ws *workspace, l, n int) {
	z, x, ld := ws.bufs[l][:n*f.d], ws.bufs[l+1][:n*f.d], ws.logdet[:n]
	if dl, ok := f.layers[l].(dropLayer); ok && ws.drop.on {
		dl.inverseDrop(z, x, ws.ctx, ld, ws.work[l], ws.drop.forLayer(l))
		return
	}
	f.layers[l].Inverse(z, x, ws.ctx, ld, ws.work[l])
}

// forwardPass maps the n rows of z, with their contexts ctx (n×C, nil when
// C = 0), up to x = bufs[L][:n·D], leaving log|det ∂x/∂z| in logdet[:n].
func (f *Flow) forwardPass(ws *workspace, z, ctx []float64, n int) {
	copy(ws.bufs[0][:n*f.d], z)
	ws.ctx = ctx
	ws.eps = nil
	f.forwardLayers(ws, n)
}

// drawPass is forwardPass from the base's draws eps (n×D, from Base.draw):
// the base maps them to z = bufs[0][:n·D] given their contexts, and the
// layers map z up to x. eps is kept in ws for klBackward, and the base's
// work holds what its klGrad reads. For the standard normal base z = eps,
// and drawPass is forwardPass.
func (f *Flow) drawPass(ws *workspace, eps, ctx []float64, n int) {
	z := ws.bufs[0][:n*f.d]
	copy(z, eps)
	ws.ctx = ctx
	ws.eps = eps
	f.base.fromDraws(z, ctx, ws.bwork)
	f.forwardLayers(ws, n)
}

// forwardLayers maps z = bufs[0][:n·D] through the layers, given the
// contexts ws.ctx, leaving log|det ∂x/∂z| in logdet[:n].
func (f *Flow) forwardLayers(ws *workspace, n int) {
	ld := ws.logdet[:n]
	clear(ld)
	for l := 0; l < len(f.layers); l++ {
		f.layers[l].Forward(ws.bufs[l+1][:n*f.d], ws.bufs[l][:n*f.d], ws.ctx, ld, ws.work[l])
	}
}

// nllBackward follows inversePass over n rows. It returns the summed
// negative log-likelihood Σ_i −log p(x_i) and adds its gradient with respect
// to the parameters into grad (length NumParams). When dc is not nil (n×C)
// it receives the gradient with respect to the contexts. The gradient with
// respect to x is left in ws.dx.
//
// With z = g(x) and log p(x) = log p_base(z) + Σ_l ld_l(x), the loss of a
// row is ℓ = −log p_base(z) − Σ_l ld_l, so ∂ℓ/∂ld_l = −1 for every layer,
// and the base gives ∂ℓ/∂z (z itself for the standard normal, ℓ =
// ½‖z‖² + (D/2)·log 2π), its parameters' share and, for a conditional base,
// its share of ∂ℓ/∂c. The layers are then walked from the base side (whose
// output is z) to the data side, each turning ∂ℓ/∂(its output) into
// ∂ℓ/∂(its input) and adding its parameters' share.
func (f *Flow) nllBackward(ws *workspace, n int, grad, dc []float64) float64 {
	loss := f.nllStart(ws, n, grad, dc)
	f.walkInverseBackward(ws, n, grad, dc, 0, len(f.layers))
	return loss
}

// nllStart is the base's part of nllBackward: it returns the summed loss,
// adds the base's parameters' share of the gradient into grad (and of ∂ℓ/∂c
// into dc, which it clears first), sets ∂ℓ/∂ld = −1 in ws.dld and leaves
// ∂ℓ/∂z in ws.dx.
func (f *Flow) nllStart(ws *workspace, n int, grad, dc []float64) float64 {
	d := f.d
	z := ws.bufs[0][:n*d]
	f.base.logProbRows(ws.out[:n], z, ws.ctx, ws.logdet[:n], ws.bwork)
	loss := 0.0
	for _, v := range ws.out[:n] {
		loss -= v
	}
	clear(dc)
	dz := ws.dA[:n*d]
	f.base.nllGrad(dz, dc, z, ws.ctx, ws.bwork, f.baseGrad(grad))
	dld := ws.dld[:n]
	for i := range dld {
		dld[i] = -1
	}
	ws.dx = dz
	return loss
}

// walkInverseBackward walks layers from, from+1, …, to−1 backward through
// Inverse, the base side first: ws.dx holds ∂ℓ/∂(the output of layer
// from), and is left holding ∂ℓ/∂(the input of layer to−1), the deltas
// alternating between ws.dA and ws.dB.
func (f *Flow) walkInverseBackward(ws *workspace, n int, grad, dc []float64, from, to int) {
	d := f.d
	dz := ws.dx
	dx := ws.otherDelta(n * d)
	dld := ws.dld[:n]
	for l := from; l < to; l++ {
		g, ok := f.layers[l].(InverseGrader)
		if !ok {
			panic(fmt.Sprintf("flow: layer %d (%T) cannot backpropagate through Inverse", l, f.layers[l]))
		}
		if dl, ok := f.layers[l].(dropLayer); ok && ws.drop.on {
			dl.inverseBackwardDrop(dx, dc, dz, dld, ws.bufs[l+1][:n*d], ws.bufs[l][:n*d], ws.ctx, ws.work[l], grad[f.offs[l]:f.offs[l+1]], ws.drop.forLayer(l))
			dz, dx = dx, dz
			continue
		}
		g.InverseBackward(dx, dc, dz, dld, ws.bufs[l+1][:n*d], ws.bufs[l][:n*d], ws.ctx, ws.work[l], grad[f.offs[l]:f.offs[l+1]])
		dz, dx = dx, dz
	}
	ws.dx = dz
}

// klBackward follows drawPass over n rows, whose z = T(ε) came from the
// base's draws ε. target is called on each row of x. It returns
// Σ_i [log p_base(z_i) − ld(z_i) − log π(x_i)], the summed reverse-KL loss
// (log q(x) = log p_base(z) − ld), and adds its gradient with respect to
// the parameters into grad; when dc is not nil (n×C) it receives the
// gradient with respect to the contexts.
//
// ε is held fixed (reparameterisation), so ∂ℓ/∂x = −∇log π(x) and
// ∂ℓ/∂ld_l = −1; the layers are walked from the data side down to ∂ℓ/∂z,
// and the base adds the derivatives through z = T(ε) and its own density
// (for the standard normal, z = ε and there are none).
func (f *Flow) klBackward(ws *workspace, n int, target Target, grad, dc []float64) float64 {
	d := f.d
	x := ws.bufs[len(f.layers)][:n*d]
	dx := ws.dA[:n*d]
	lb := ws.out[:n]
	f.base.drawLogProb(lb, ws.eps, ws.ctx, ws.bwork)
	loss := 0.0
	for i := 0; i < n; i++ {
		lp := target(dx[i*d:i*d+d], x[i*d:i*d+d])
		loss += lb[i] - ws.logdet[i] - lp
	}
	f.klWalk(ws, n, grad, dc)
	return loss
}

// klBackwardGiven is klBackward for a target conditioned on the context:
// row i's target is log π(x_i | c_i), with c_i the row's context in the
// forward pass (nil when C = 0). The context is an input of
// the target as well as of the flow, but ∂ log π/∂c is not asked of the
// target: dc receives the gradient through the flow alone, as for the
// parameters.
func (f *Flow) klBackwardGiven(ws *workspace, n int, target ConditionalTarget, grad, dc []float64) float64 {
	d, c := f.d, f.c
	x := ws.bufs[len(f.layers)][:n*d]
	dx := ws.dA[:n*d]
	lb := ws.out[:n]
	f.base.drawLogProb(lb, ws.eps, ws.ctx, ws.bwork)
	loss := 0.0
	for i := 0; i < n; i++ {
		var ci []float64
		if ws.ctx != nil {
			ci = ws.ctx[i*c : i*c+c : i*c+c]
		}
		lp := target(dx[i*d:i*d+d], x[i*d:i*d+d], ci)
		loss += lb[i] - ws.logdet[i] - lp
	}
	f.klWalk(ws, n, grad, dc)
	return loss
}

// klWalk is the backward walk of klBackward once the target has left
// ∇log π(x_i) in the rows of ws.dA: it negates them into ∂ℓ/∂x, sets
// ∂ℓ/∂ld_l = −1, walks the layers from the data side down to ∂ℓ/∂z, and
// hands that to the base.
func (f *Flow) klWalk(ws *workspace, n int, grad, dc []float64) {
	d := f.d
	dx := ws.dA[:n*d]
	for i := range dx {
		dx[i] = -dx[i]
	}
	dld := ws.dld[:n]
	for i := range dld {
		dld[i] = -1
	}
	dz := ws.dB[:n*d]
	clear(dc)
	for l := len(f.layers) - 1; l >= 0; l-- {
		g, ok := f.layers[l].(ForwardGrader)
		if !ok {
			panic(fmt.Sprintf("flow: layer %d (%T) cannot backpropagate through Forward", l, f.layers[l]))
		}
		g.ForwardBackward(dz, dc, dx, dld, ws.bufs[l][:n*d], ws.bufs[l+1][:n*d], ws.ctx, ws.work[l], grad[f.offs[l]:f.offs[l+1]])
		dz, dx = dx, dz
	}
	// dx now holds ∂ℓ/∂z.
	f.base.klGrad(dc, dx, ws.eps, ws.ctx, ws.bwork, f.baseGrad(grad))
}

// Target is an unnormalised log-density log π(x) for reverse-KL training. It
// returns log π(x) and writes ∇log π(x) into grad. It is called from several
// goroutines at once and must be safe for that.
type Target func(grad, x []float64) float64

// ConditionalTarget is an unnormalised conditional log-density log π(x | c)
// for amortised reverse-KL training (NewReverseKLGiven, FitReverseKLGiven).
// It returns log π(x | c) and writes ∇_x log π(x | c) into grad (length D);
// x has length D and c length C, the flow's context dimension (nil when
// C = 0). Its normalising constant may depend on c. It must not modify x
// or c, and it is called from several goroutines at once and must be safe
// for that.
type ConditionalTarget func(grad, x, c []float64) float64

// evalOp names what an evalJob computes.
type evalOp int

const (
	opLogProb evalOp = iota
	opForward
	opInverse
	opSample      // drawPass, with logdet turned into log q(x) = log p_base(z) − logdet
	opGradLogProb // Inverse and the nll backward walk: ∂ log p/∂x and ∂ log p/∂c
)

// evalJob evaluates a batch shard by shard on the pool.
type evalJob struct {
	runState
	f      *Flow
	op     evalOp
	src    []float64
	ctx    []float64 // the contexts, rows×C, or (rep > 1) rows/rep × C; or nil
	rep    int       // rows per context row: row i has context row i/rep
	dst    []float64 // rows×D (Forward, Inverse, Sample, GradLogProb's ∂/∂x) or rows (LogProb)
	dc     []float64 // GradLogProb's ∂ log p/∂c, rows×C, or nil
	logdet []float64 // optional, rows
	n      int
}

// shardContexts returns the contexts of rows [lo, hi) of j, or nil: a view
// of j.ctx, or, when rows share context rows (SampleEach), the repeated
// rows written into ws.crep.
func (j *evalJob) shardContexts(ws *workspace, lo, hi int) []float64 {
	c := j.f.c
	if j.ctx == nil {
		return nil
	}
	if j.rep == 1 {
		return j.ctx[lo*c : hi*c]
	}
	ctx := ws.crep[:(hi-lo)*c]
	for i := lo; i < hi; i++ {
		r := i / j.rep
		copy(ctx[(i-lo)*c:(i-lo+1)*c], j.ctx[r*c:r*c+c])
	}
	return ctx
}

func (j *evalJob) runShard(_, s int) {
	f, d := j.f, j.f.d
	lo := s * evalShard
	hi := min(lo+evalShard, j.n)
	m := hi - lo
	ws := f.getWS()
	src := j.src[lo*d : hi*d]
	ctx := j.shardContexts(ws, lo, hi)
	switch j.op {
	case opLogProb:
		f.inversePass(ws, src, ctx, m)
		f.base.logProbRows(j.dst[lo:hi], ws.bufs[0][:m*d], ctx, ws.logdet[:m], ws.bwork)
	case opForward:
		f.forwardPass(ws, src, ctx, m)
		copy(j.dst[lo*d:hi*d], ws.bufs[len(f.layers)][:m*d])
	case opInverse:
		f.inversePass(ws, src, ctx, m)
		copy(j.dst[lo*d:hi*d], ws.bufs[0][:m*d])
	case opSample:
		f.drawPass(ws, src, ctx, m)
		copy(j.dst[lo*d:hi*d], ws.bufs[len(f.layers)][:m*d])
		if j.logdet != nil {
			// log q(x) = log p_base(z) − log|det ∂x/∂z|.
			for i := range ws.logdet[:m] {
				ws.logdet[i] = -ws.logdet[i]
			}
			f.base.logProbRows(j.logdet[lo:hi], ws.bufs[0][:m*d], ctx, ws.logdet[:m], ws.bwork)
		}
		f.putWS(ws)
		return
	case opGradLogProb:
		// log p(x | c) = −ℓ, with ℓ the loss of nllBackward, so its
		// gradients are the negated ∂ℓ/∂x and ∂ℓ/∂c. The parameters'
		// share goes to scratch and is dropped.
		f.inversePass(ws, src, ctx, m)
		if ws.pgrad == nil {
			ws.pgrad = make([]float64, len(f.params))
		}
		clear(ws.pgrad)
		var dc []float64
		if j.dc != nil {
			dc = j.dc[lo*f.c : hi*f.c]
		}
		f.nllBackward(ws, m, ws.pgrad, dc)
		dx := j.dst[lo*d : hi*d]
		for i, v := range ws.dx[:m*d] {
			dx[i] = -v
		}
		for i, v := range dc {
			dc[i] = -v
		}
		if j.logdet != nil {
			copy(j.logdet[lo:hi], ws.out[:m]) // log p(x_i | c_i), left by nllBackward
		}
		f.putWS(ws)
		return
	}
	if j.logdet != nil {
		copy(j.logdet[lo:hi], ws.logdet[:m])
	}
	f.putWS(ws)
}

// eval runs op on the n rows of src on the pool. ctx holds the rows'
// contexts (nil for an unconditional flow): row i's is row i/rep of ctx,
// so rep = 1 gives each row its own.
func (f *Flow) eval(op evalOp, dst, src, ctx, logdet []float64, n, rep int) {
	f.evalGrad(op, dst, nil, src, ctx, logdet, n, rep)
}

// evalGrad is eval with GradLogProb's destination of ∂ log p/∂c, dc.
func (f *Flow) evalGrad(op evalOp, dst, dc, src, ctx, logdet []float64, n, rep int) {
	j := f.getJob()
	j.op, j.dst, j.dc, j.src, j.ctx, j.logdet, j.n, j.rep = op, dst, dc, src, ctx, logdet, n, rep
	shards := (n + evalShard - 1) / evalShard
	runShards(j, &j.runState, shards, workersFor(0, shards))
	j.dst, j.dc, j.src, j.ctx, j.logdet = nil, nil, nil, nil, nil
	f.putJob(j)
}

// rows returns the row-major data of a, which must have D columns. It
// copies only when a is not a contiguous *mat.Dense.
func (f *Flow) rows(method, name string, a mat.Matrix) ([]float64, int) {
	f.check(method)
	checkArg(method, name, a)
	r, c := a.Dims()
	if c != f.d {
		panic(fmt.Sprintf("flow: %s: %s is %d×%d, want %d×%d", method, name, r, c, r, f.d))
	}
	return rawRows(a), r
}

// rawRows returns the row-major data of a, copying only when a is not a
// contiguous *mat.Dense.
func rawRows(a mat.Matrix) []float64 {
	r, c := a.Dims()
	if m, ok := a.(*mat.Dense); ok {
		raw := m.RawMatrix()
		if raw.Stride == c || r <= 1 {
			return raw.Data[:r*c]
		}
	}
	data := make([]float64, r*c)
	for i := 0; i < r; i++ {
		for k := 0; k < c; k++ {
			data[i*c+k] = a.At(i, k)
		}
	}
	return data
}

// contexts returns the row-major data of the contexts c and their number
// of rows. c must have C columns; for an unconditional flow it may be nil
// (or have no columns), and contexts returns nil and −1 rows (nil c) or
// c's rows.
func (f *Flow) contexts(method string, c mat.Matrix) ([]float64, int) {
	if isNilMatrix(c) {
		if f.c > 0 {
			panic(fmt.Sprintf("flow: %s: c is nil; the flow is conditional and needs a context of %d columns per row", method, f.c))
		}
		return nil, -1
	}
	r, k := c.Dims()
	if k != f.c {
		if f.c == 0 {
			panic(fmt.Sprintf("flow: %s: c is %d×%d, but the flow has no context (C = 0): want nil", method, r, k))
		}
		panic(fmt.Sprintf("flow: %s: c is %d×%d, want %d×%d", method, r, k, r, f.c))
	}
	if k == 0 {
		return nil, r
	}
	return rawRows(c), r
}

// contextsOf returns the data of the contexts c of n rows of name (see
// contexts), panicking unless c has n rows.
func (f *Flow) contextsOf(method, name string, c mat.Matrix, n int) []float64 {
	data, r := f.contexts(method, c)
	if r >= 0 && r != n {
		panic(fmt.Sprintf("flow: %s: c has %d rows, %s has %d", method, r, name, n))
	}
	return data
}

// dstRows prepares dst to receive n×D results and returns its data.
func (f *Flow) dstRows(method string, dst *mat.Dense, n int) []float64 {
	return dstMatrix(method, "dst", dst, n, f.d)
}

// dstMatrix prepares the matrix dst, called name, to receive n×c results
// and returns its data: an empty dst is resized, a non-empty one must be a
// contiguous n×c matrix.
func dstMatrix(method, name string, dst *mat.Dense, n, c int) []float64 {
	checkArg(method, name, dst)
	if dst.IsEmpty() {
		dst.ReuseAs(n, c)
	}
	r, k := dst.Dims()
	if r != n || k != c {
		panic(fmt.Sprintf("flow: %s: %s is %d×%d, want %d×%d", method, name, r, k, n, c))
	}
	raw := dst.RawMatrix()
	if raw.Stride != k && n > 1 {
		panic(fmt.Sprintf("flow: %s: %s has stride %d, want a contiguous %d×%d matrix", method, name, raw.Stride, n, c))
	}
	return raw.Data[:n*k]
}

func checkLen(method, name string, v []float64, n int) {
	if v != nil && len(v) != n {
		panic(fmt.Sprintf("flow: %s: %s has length %d, want %d", method, name, len(v), n))
	}
}

// LogProb writes log p(x_i) of each row of x into dst and returns it:
//
//	log p(x) = log p_base(g(x)) + log|det ∂g/∂x|,
//
// p_base being the base distribution, N(0, I) for a flow made by New.
//
// If dst is nil a new slice is allocated. x must have D columns; it may be
// any mat.Matrix, and a contiguous *mat.Dense is read without copying. It
// panics if the flow is conditional (ContextDim() > 0): see LogProbGiven.
func (f *Flow) LogProb(dst []float64, x mat.Matrix) []float64 {
	f.unconditional("Flow.LogProb", "LogProbGiven")
	return f.logProb("Flow.LogProb", dst, x, nil)
}

// LogProbGiven writes log p(x_i | c_i) of each row of x, given row i of the
// contexts c, into dst and returns it:
//
//	log p(x | c) = log p_base(g(x | c) | c) + log|det ∂g/∂x|,
//
// the Jacobian taken with c held fixed. x is n×D and c n×C, C being
// ContextDim; for an unconditional flow (C = 0) c may be nil, and
// LogProbGiven is LogProb. If dst is nil a new slice of length n is
// allocated. Contiguous *mat.Dense arguments are read without copying.
func (f *Flow) LogProbGiven(dst []float64, x, c mat.Matrix) []float64 {
	return f.logProb("Flow.LogProbGiven", dst, x, c)
}

func (f *Flow) logProb(method string, dst []float64, x, c mat.Matrix) []float64 {
	data, n := f.rows(method, "x", x)
	ctx := f.contextsOf(method, "x", c, n)
	if dst == nil {
		dst = make([]float64, n)
	}
	checkLen(method, "dst", dst, n)
	f.eval(opLogProb, dst, data, ctx, nil, n, 1)
	return dst
}

// Forward computes x = f(z) for each row of z into dst. If logdet is not
// nil it receives each row's log|det ∂x/∂z|. An empty dst is resized; a
// non-empty one must be a contiguous n×D matrix. dst may be z itself. It
// panics if the flow is conditional: see ForwardGiven.
func (f *Flow) Forward(dst *mat.Dense, z mat.Matrix, logdet []float64) {
	f.unconditional("Flow.Forward", "ForwardGiven")
	f.pass("Flow.Forward", opForward, "z", dst, z, nil, logdet)
}

// ForwardGiven computes x_i = f(z_i | c_i) for each row of z (n×D) and its
// context, row i of c (n×C), into dst. If logdet is not nil it receives
// each row's log|det ∂x/∂z|. An empty dst is resized; a non-empty one must
// be a contiguous n×D matrix. dst may be z itself, but must not share
// memory with c. For an unconditional flow c may be nil.
func (f *Flow) ForwardGiven(dst *mat.Dense, z, c mat.Matrix, logdet []float64) {
	f.pass("Flow.ForwardGiven", opForward, "z", dst, z, c, logdet)
}

// Inverse computes z = g(x) for each row of x into dst. If logdet is not
// nil it receives each row's log|det ∂z/∂x|. An empty dst is resized; a
// non-empty one must be a contiguous n×D matrix. dst may be x itself. It
// panics if the flow is conditional: see InverseGiven.
func (f *Flow) Inverse(dst *mat.Dense, x mat.Matrix, logdet []float64) {
	f.unconditional("Flow.Inverse", "InverseGiven")
	f.pass("Flow.Inverse", opInverse, "x", dst, x, nil, logdet)
}

// InverseGiven computes z_i = g(x_i | c_i) for each row of x (n×D) and its
// context, row i of c (n×C), into dst. If logdet is not nil it receives
// each row's log|det ∂z/∂x|. An empty dst is resized; a non-empty one must
// be a contiguous n×D matrix. dst may be x itself, but must not share
// memory with c. For an unconditional flow c may be nil.
func (f *Flow) InverseGiven(dst *mat.Dense, x, c mat.Matrix, logdet []float64) {
	f.pass("Flow.InverseGiven", opInverse, "x", dst, x, c, logdet)
}

// pass runs Forward or Inverse of the rows of src, called name, with
// their contexts c.
func (f *Flow) pass(method string, op evalOp, name string, dst *mat.Dense, src, c mat.Matrix, logdet []float64) {
	data, n := f.rows(method, name, src)
	ctx := f.contextsOf(method, name, c, n)
	out := f.dstRows(method, dst, n)
	checkLen(method, "logdet", logdet, n)
	f.eval(op, out, data, ctx, logdet, n, 1)
}

// Sample fills each row of dst, a non-empty contiguous n×D matrix, with a
// draw from the flow: z from the base, drawn from rnd in row order
// (docs/design.md §1.9; z ~ N(0, I) for the standard normal), then
// x = f(z). If logq is not nil it receives log q(x_i) = log p_base(z_i) −
// log|det ∂x/∂z|. The draws depend only on rnd's state, never on the
// number of goroutines. It panics if the flow is conditional: see
// SampleGiven and SampleEach.
func (f *Flow) Sample(dst *mat.Dense, logq []float64, rnd *rand.Rand) {
	f.unconditional("Flow.Sample", "SampleGiven or SampleEach")
	checkArg("Flow.Sample", "dst", dst)
	if dst.IsEmpty() {
		panic("flow: Flow.Sample: dst is empty; its rows say how many samples to draw")
	}
	r, _ := dst.Dims()
	f.sample("Flow.Sample", dst, logq, nil, r, 1, rnd)
}

// SampleGiven draws one sample for each row of the contexts c (n×C) into
// the same row of dst (n×D): z_i from the base given c_i, drawn from rnd in
// row order, then x_i = f(z_i | c_i). If logq is not nil it receives
// log q(x_i | c_i) = log p_base(z_i | c_i) − log|det ∂x/∂z|. An empty dst
// is resized to n×D; a non-empty one must be a contiguous n×D matrix, and
// must not share memory with c.
// For an unconditional flow c may be nil, and then dst must be non-empty:
// its rows say how many samples to draw, as for Sample. The draws depend
// only on rnd's state, never on the number of goroutines.
func (f *Flow) SampleGiven(dst *mat.Dense, logq []float64, c mat.Matrix, rnd *rand.Rand) {
	const method = "Flow.SampleGiven"
	f.check(method)
	checkArg(method, "dst", dst)
	ctx, n := f.contexts(method, c)
	if n < 0 {
		if dst.IsEmpty() {
			panic("flow: Flow.SampleGiven: dst is empty and c is nil; dst's rows say how many samples to draw")
		}
		n, _ = dst.Dims()
	}
	f.sample(method, dst, logq, ctx, n, 1, rnd)
}

// SampleEach draws k samples for each of the m rows of the contexts c
// (m×C) into dst ((m·k)×D): row i·k+j of dst is sample j of context i. The
// base draws come from rnd in the row order of dst, so the result is bit
// for bit that of SampleGiven with c's rows each repeated k times, without
// that copy of c. If logq is not nil (length m·k) it
// receives log q(x | c) of each row. An empty dst is resized to (m·k)×D; a
// non-empty one must be a contiguous (m·k)×D matrix, and must not share
// memory with c. For an unconditional flow c may be nil: one context
// without columns, m = 1. It panics if k < 1. The draws depend only on
// rnd's state, never on the number of goroutines.
func (f *Flow) SampleEach(dst *mat.Dense, logq []float64, c mat.Matrix, k int, rnd *rand.Rand) {
	const method = "Flow.SampleEach"
	f.check(method)
	checkArg(method, "dst", dst)
	if k < 1 {
		panic(fmt.Sprintf("flow: Flow.SampleEach: k is %d, want at least 1 sample per context", k))
	}
	ctx, m := f.contexts(method, c)
	if m < 0 {
		m = 1
	}
	if m > math.MaxInt/k {
		panic(fmt.Sprintf("flow: Flow.SampleEach: %d contexts × %d samples overflow int", m, k))
	}
	f.sample(method, dst, logq, ctx, m*k, k, rnd)
}

// sample draws n samples into dst, row i with context row i/rep of ctx.
func (f *Flow) sample(method string, dst *mat.Dense, logq, ctx []float64, n, rep int, rnd *rand.Rand) {
	out := f.dstRows(method, dst, n)
	checkLen(method, "logq", logq, n)
	checkArg(method, "rnd", rnd)
	f.base.draw(out, rnd)
	f.eval(opSample, out, out, ctx, logq, n, rep)
}

// GradLogProb computes, for each row of x (n×D) with its context, row i of
// c (n×C), the gradients of log p(x_i | c_i): with respect to x_i into row
// i of dx (n×D), and, if dc is not nil, with respect to c_i into row i of
// dc (n×C). If logp is not nil (length n) it receives log p(x_i | c_i).
// An empty dx or dc is resized; a non-empty one must be contiguous and of
// that shape, and neither may share memory with c. For an unconditional
// flow c and dc must be nil.
//
// The gradients are those of the maximum-likelihood backward pass,
// negated: for ℓ = −log p(x | c), ∂ log p/∂x = −∂ℓ/∂x and ∂ log p/∂c =
// −∂ℓ/∂c. Like LogProb it runs on the package's pool in shards of fixed
// size, so the result does not depend on the number of goroutines. It
// panics if a layer cannot backpropagate through Inverse (an IAF layer).
func (f *Flow) GradLogProb(dx, dc *mat.Dense, logp []float64, x, c mat.Matrix) {
	const method = "Flow.GradLogProb"
	data, n := f.rows(method, "x", x)
	ctx := f.contextsOf(method, "x", c, n)
	out := dstMatrix(method, "dx", dx, n, f.d)
	var dcd []float64
	if dc != nil {
		if f.c == 0 {
			panic("flow: Flow.GradLogProb: dc is not nil, but the flow has no context (C = 0)")
		}
		dcd = dstMatrix(method, "dc", dc, n, f.c)
	}
	checkLen(method, "logp", logp, n)
	f.evalGrad(opGradLogProb, out, dcd, data, ctx, logp, n, 1)
}
