// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// CouplingFunc is the coupling function h of a coupling flow
// x_B = h(z_B, θ), θ = g(z_A) (θ = g(z_A, c) in a conditional layer): a map
// of z_B that is invertible for every θ. It works on one row at a time. For
// |B| transformed dimensions θ holds ParamsPerDim()·|B| values laid out in
// blocks of |B|: θ[k·|B| + i] is the k-th parameter of dimension i. tmp is
// scratch of 2·|B| values, or of tmpLen(|B|) values for a function that has
// the unexported method tmpLen (RQSpline; see couplingTmpLen).
type CouplingFunc interface {
	// ParamsPerDim returns the number of conditioner outputs per
	// transformed dimension.
	ParamsPerDim() int
	// Forward writes x = h(z, θ) and returns log|det ∂x/∂z|.
	Forward(x, z, theta, tmp []float64) float64
	// Inverse writes z = h⁻¹(x, θ) and returns log|det ∂z/∂x|.
	Inverse(z, x, theta, tmp []float64) float64
	// ForwardBackward follows Forward: given dx = ∂L/∂x and
	// dld = ∂L/∂logdet it writes dz = ∂L/∂z and dtheta = ∂L/∂θ.
	ForwardBackward(dz, dtheta, dx []float64, dld float64, z, x, theta, tmp []float64)
	// InverseBackward follows Inverse: given dz = ∂L/∂z and
	// dld = ∂L/∂logdet it writes dx = ∂L/∂x and dtheta = ∂L/∂θ.
	InverseBackward(dx, dtheta, dz []float64, dld float64, x, z, theta, tmp []float64)
}

// Affine is the Real NVP coupling function x = exp(s) ⊙ z + b with
// θ = [s_raw ; b]. With Clamp = 0, s = s_raw; with Clamp = c > 0 the scale is
// soft-clamped to s = c·tanh(s_raw/c), which keeps |s| < c.
type Affine struct {
	Clamp float64
}

func (Affine) ParamsPerDim() int { return 2 }

// The methods of Affine and Additive are those of affineOf[float64] and
// additiveOf[float64]: one source for both element types
// (couplingFuncOf).

func (a Affine) Forward(x, z, theta, tmp []float64) float64 {
	return affineOf[float64]{a}.Forward(x, z, theta, tmp)
}

func (a Affine) Inverse(z, x, theta, tmp []float64) float64 {
	return affineOf[float64]{a}.Inverse(z, x, theta, tmp)
}

func (a Affine) ForwardBackward(dz, dtheta, dx []float64, dld float64, z, x, theta, tmp []float64) {
	affineOf[float64]{a}.ForwardBackward(dz, dtheta, dx, dld, z, x, theta, tmp)
}

func (a Affine) InverseBackward(dx, dtheta, dz []float64, dld float64, x, z, theta, tmp []float64) {
	affineOf[float64]{a}.InverseBackward(dx, dtheta, dz, dld, x, z, theta, tmp)
}

// couplingFuncT is a coupling function's row methods over elements of
// type T. Every CouplingFunc is one for float64; for float32,
// couplingFuncOf gives those of Affine, Additive and RQSpline.
type couplingFuncT[T kernElem] interface {
	Forward(x, z, theta, tmp []T) T
	Inverse(z, x, theta, tmp []T) T
	ForwardBackward(dz, dtheta, dx []T, dld T, z, x, theta, tmp []T)
	InverseBackward(dx, dtheta, dz []T, dld T, x, z, theta, tmp []T)
}

// couplingFuncOf returns h's row methods over elements of type T, or nil
// when h has none in T (a float32 pass of a coupling function other than
// Affine, Additive and RQSpline).
func couplingFuncOf[T kernElem](h CouplingFunc) couplingFuncT[T] {
	if f, ok := any(h).(couplingFuncT[T]); ok {
		return f
	}
	switch h := h.(type) {
	case Affine:
		return affineOf[T]{h}
	case Additive:
		return additiveOf[T]{}
	case RQSpline:
		return rqsplineOf[T]{h}
	}
	return nil
}

// couplingRows returns the row methods over T of c's coupling function:
// couplingFuncOf's, but in float32 the value NewCoupling made once, so
// that a pass does not box a new one (rqsplineOf[float32] is too large to
// box without allocating).
func couplingRows[T kernElem](c *Coupling) couplingFuncT[T] {
	if isF32[T]() {
		h, _ := any(c.h32).(couplingFuncT[T])
		return h
	}
	return couplingFuncOf[T](c.h)
}

// affineOf is Affine over elements of type T.
type affineOf[T kernElem] struct{ a Affine }

// scale writes s (from s_raw) into tmp[:nb] and returns it.
func (a affineOf[T]) scale(sraw, tmp []T) []T {
	if a.a.Clamp <= 0 {
		return sraw
	}
	s := tmp[:len(sraw)]
	c := T(a.a.Clamp)
	for i, v := range sraw {
		s[i] = c * T(math.Tanh(float64(v/c)))
	}
	return s
}

// Forward: x = exp(s) ⊙ z + b, log|det| = Σ s.
func (a affineOf[T]) Forward(x, z, theta, tmp []T) T {
	nb := len(z)
	s := a.scale(theta[:nb], tmp)
	return affineForwardT(x, tmp[nb:2*nb], z, theta[nb:2*nb], s)
}

// Inverse: z = exp(−s) ⊙ (x − b), log|det| = −Σ s.
func (a affineOf[T]) Inverse(z, x, theta, tmp []T) T {
	nb := len(x)
	s := a.scale(theta[:nb], tmp)
	return -affineInverseT(z, tmp[nb:2*nb], x, theta[nb:2*nb], s)
}

// sRawGrad turns ∂L/∂s, held in dtheta[:nb], into ∂L/∂s_raw: with
// s = c·tanh(s_raw/c), ∂s/∂s_raw = 1 − tanh²(s_raw/c) = 1 − (s/c)².
func (a affineOf[T]) sRawGrad(dtheta, s []T) {
	if a.a.Clamp <= 0 {
		return
	}
	c := T(a.a.Clamp)
	for i, v := range s {
		t := v / c
		dtheta[i] *= 1 - t*t
	}
}

// ForwardBackward of x = exp(s) ⊙ z + b, ld = Σ s:
//
//	∂L/∂z = dx ⊙ exp(s)
//	∂L/∂b = dx
//	∂L/∂s = dx ⊙ exp(s) ⊙ z + dld = dx ⊙ (x − b) + dld
func (a affineOf[T]) ForwardBackward(dz, dtheta, dx []T, dld T, z, x, theta, tmp []T) {
	nb := len(z)
	s := a.scale(theta[:nb], tmp)
	b := theta[nb : 2*nb]
	ds, db := dtheta[:nb], dtheta[nb:2*nb]
	e := tmp[nb : 2*nb]
	expVecT(e, s)
	for i, g := range dx {
		dz[i] = g * e[i]
		db[i] = g
		ds[i] = g*(x[i]-b[i]) + dld
	}
	a.sRawGrad(ds, s)
}

// InverseBackward of z = exp(−s) ⊙ (x − b), ld = −Σ s:
//
//	∂L/∂x = dz ⊙ exp(−s)
//	∂L/∂b = −dz ⊙ exp(−s)
//	∂L/∂s = −dz ⊙ exp(−s) ⊙ (x − b) − dld = −dz ⊙ z − dld
func (a affineOf[T]) InverseBackward(dx, dtheta, dz []T, dld T, x, z, theta, tmp []T) {
	nb := len(x)
	s := a.scale(theta[:nb], tmp)
	ds, db := dtheta[:nb], dtheta[nb:2*nb]
	e := tmp[nb : 2*nb]
	for i, v := range s {
		e[i] = -v
	}
	expVecT(e, e)
	for i, g := range dz {
		dx[i] = g * e[i]
		db[i] = -g * e[i]
		ds[i] = -g*z[i] - dld
	}
	a.sRawGrad(ds, s)
}

// Additive is the NICE coupling function x = z + b with θ = b: volume
// preserving, log|det| = 0.
type Additive struct{}

func (Additive) ParamsPerDim() int { return 1 }

func (Additive) Forward(x, z, theta, tmp []float64) float64 {
	return additiveOf[float64]{}.Forward(x, z, theta, tmp)
}

func (Additive) Inverse(z, x, theta, tmp []float64) float64 {
	return additiveOf[float64]{}.Inverse(z, x, theta, tmp)
}

func (Additive) ForwardBackward(dz, dtheta, dx []float64, dld float64, z, x, theta, tmp []float64) {
	additiveOf[float64]{}.ForwardBackward(dz, dtheta, dx, dld, z, x, theta, tmp)
}

func (Additive) InverseBackward(dx, dtheta, dz []float64, dld float64, x, z, theta, tmp []float64) {
	additiveOf[float64]{}.InverseBackward(dx, dtheta, dz, dld, x, z, theta, tmp)
}

// additiveOf is Additive over elements of type T.
type additiveOf[T kernElem] struct{}

// Forward: x = z + b.
func (additiveOf[T]) Forward(x, z, theta, _ []T) T {
	for i, v := range z {
		x[i] = v + theta[i]
	}
	return 0
}

// Inverse: z = x − b.
func (additiveOf[T]) Inverse(z, x, theta, _ []T) T {
	for i, v := range x {
		z[i] = v - theta[i]
	}
	return 0
}

// ForwardBackward of x = z + b: ∂L/∂z = dx, ∂L/∂b = dx.
func (additiveOf[T]) ForwardBackward(dz, dtheta, dx []T, _ T, _, _, _, _ []T) {
	copy(dz, dx)
	copy(dtheta, dx)
}

// InverseBackward of z = x − b: ∂L/∂x = dz, ∂L/∂b = −dz.
func (additiveOf[T]) InverseBackward(dx, dtheta, dz []T, _ T, _, _, _, _ []T) {
	copy(dx, dz)
	for i, g := range dz {
		dtheta[i] = -g
	}
}

// CouplingConfig configures a coupling layer.
type CouplingConfig struct {
	// Mask selects the dimensions that pass through unchanged (true: the
	// set A) and so condition the others (false: the set B). Its length is
	// the layer's dimension D ≥ 2, and both sets must be non-empty.
	Mask []bool
	// Hidden lists the widths of the conditioner's hidden layers; none
	// makes the conditioner affine in z_A.
	Hidden []int
	// Activation follows every hidden layer.
	Activation Activation
	// Func is the coupling function; nil means Affine{}.
	Func CouplingFunc
	// Seed seeds the conditioner's initial weights.
	Seed uint64
	// ContextDim is the width C ≥ 0 of the context c the layer conditions
	// on: the conditioner's input is [z_A ; c], |A| + C values, as in the
	// conditional coupling layers of Winkler et al. (2019), "Learning
	// Likelihoods with Conditional Normalizing Flows". 0, the default, makes
	// the unconditional layer.
	ContextDim int
	// ResidualBlocks is the number R ≥ 0 (at most 64) of residual blocks of
	// the conditioner. 0, the default, makes it the plain network of
	// Hidden; R > 0 makes it the pre-activation residual network of Durkan
	// et al. (2019), "Neural Spline Flows": a dense layer to width H, R
	// blocks h ← h + W₂·act(W₁·act(h) + b₁) + b₂ of width H, and a dense
	// layer from act(h) to the output (see docs/design.md §1.4). Hidden must
	// then hold exactly one width, H.
	ResidualBlocks int
}

// Coupling is the coupling layer x_A = z_A, x_B = h(z_B, g(z_A, c)), with g a
// multilayer perceptron from |A| + C inputs to ParamsPerDim·|B| outputs; C,
// the context dimension, is 0 for an unconditional layer, whose conditioner
// sees z_A alone. The conditioner's input row is [z_A ; c]: the pass-through
// dimensions in increasing order, then the C context columns. Its parameters
// are the conditioner's, layer by layer, W (out×in, row-major) then b, so the
// first layer's W is out×(|A|+C) with the context's weights in its last C
// columns. It starts as the identity whatever the context: the conditioner's
// last layer is zero. With CouplingConfig.ResidualBlocks = R > 0 g is the
// residual network of residual.go instead, whose 2R + 2 dense layers are
// laid out the same way, in the order input layer, blocks, output layer.
type Coupling struct {
	d      int
	nc     int // C, the context dimension
	mask   []bool
	ia, ib []int
	h      CouplingFunc
	h32    couplingFuncT[float32] // h's float32 row methods, or nil (couplingRows)
	tl     int                    // the length of h's scratch, couplingTmpLen
	cond   mlp
	params []float64
}

// NewCoupling returns a coupling layer, or an error saying what is wrong
// with the configuration.
func NewCoupling(cfg CouplingConfig) (*Coupling, error) {
	d := len(cfg.Mask)
	if d < 2 {
		return nil, fmt.Errorf("flow: NewCoupling: dimension %d: a coupling layer needs D ≥ 2", d)
	}
	if err := checkDim(d, 2); err != nil {
		return nil, fmt.Errorf("flow: NewCoupling: %w", err)
	}
	c := &Coupling{d: d, mask: append([]bool(nil), cfg.Mask...), h: cfg.Func}
	for i, m := range cfg.Mask {
		if m {
			c.ia = append(c.ia, i)
		} else {
			c.ib = append(c.ib, i)
		}
	}
	if len(c.ib) == 0 {
		return nil, errors.New("flow: NewCoupling: mask is all true: no dimension is transformed")
	}
	if len(c.ia) == 0 {
		return nil, errors.New("flow: NewCoupling: mask is all false: nothing conditions the transform")
	}
	for i, h := range cfg.Hidden {
		if h < 1 {
			return nil, fmt.Errorf("flow: NewCoupling: hidden layer %d has width %d", i, h)
		}
	}
	if !cfg.Activation.valid() {
		return nil, fmt.Errorf("flow: NewCoupling: unknown activation %d", int(cfg.Activation))
	}
	if c.h == nil {
		c.h = Affine{}
	}
	if a, ok := c.h.(Affine); ok && (math.IsNaN(a.Clamp) || math.IsInf(a.Clamp, 0) || a.Clamp < 0) {
		return nil, fmt.Errorf("flow: NewCoupling: clamp %v is not a finite non-negative number", a.Clamp)
	}
	if sp, ok := c.h.(RQSpline); ok {
		if err := sp.validate(); err != nil {
			return nil, fmt.Errorf("flow: NewCoupling: %s", strings.TrimPrefix(err.Error(), "flow: "))
		}
	}
	c.h32 = couplingFuncOf[float32](c.h)
	k := c.h.ParamsPerDim()
	if k < 1 {
		return nil, fmt.Errorf("flow: NewCoupling: coupling function %T has %d parameters per dimension", c.h, k)
	}
	if err := checkCouplingContextDim(cfg.ContextDim); err != nil {
		return nil, fmt.Errorf("flow: NewCoupling: %w", err)
	}
	if err := checkResidual(cfg.ResidualBlocks, cfg.Hidden); err != nil {
		return nil, fmt.Errorf("flow: NewCoupling: %w", err)
	}
	c.nc = cfg.ContextDim
	// The context widens the conditioner's input, and so its first layer,
	// the gathered input and its gradient: the footprint of a layer with
	// |A| + C pass-through dimensions.
	c.tl = couplingTmpLen(c.h, len(c.ib))
	if err := checkSize("the layer", couplingSizeBlocks(len(c.ia)+c.nc, len(c.ib), k, c.tl, cfg.Hidden, cfg.ResidualBlocks)); err != nil {
		return nil, fmt.Errorf("flow: NewCoupling: %w", err)
	}
	if cfg.ResidualBlocks > 0 {
		c.cond = newResMLP(len(c.ia)+c.nc, cfg.Hidden[0], k*len(c.ib), cfg.ResidualBlocks, cfg.Activation)
	} else {
		sizes := append([]int{len(c.ia) + c.nc}, cfg.Hidden...)
		sizes = append(sizes, k*len(c.ib))
		c.cond = newMLP(sizes, cfg.Activation)
	}
	c.params = make([]float64, c.cond.numParams())
	c.cond.init(c.params, rand.New(rand.NewPCG(cfg.Seed, 0x5851f42d4c957f2d)))
	return c, nil
}

// checkCouplingContextDim returns an error unless 0 ≤ c ≤ maxDim.
func checkCouplingContextDim(c int) error {
	if c < 0 {
		return fmt.Errorf("context dimension %d < 0", c)
	}
	if c > maxDim {
		return fmt.Errorf("context dimension %d is more than the limit of %d", c, maxDim)
	}
	return nil
}

// Mask returns a copy of the layer's mask.
func (c *Coupling) Mask() []bool { return append([]bool(nil), c.mask...) }

// Func returns the coupling function.
func (c *Coupling) Func() CouplingFunc { return c.h }

// Hidden returns the widths of the conditioner's hidden layers.
func (c *Coupling) Hidden() []int {
	return append([]int(nil), c.cond.sizes[1:len(c.cond.sizes)-1]...)
}

// Activation returns the conditioner's activation.
func (c *Coupling) Activation() Activation { return c.cond.act }

// ResidualBlocks returns the number of residual blocks of the conditioner
// (0 for a plain network).
func (c *Coupling) ResidualBlocks() int { return c.cond.blocks }

func (c *Coupling) denseCost() int { return c.cond.denseCost() }

// prepack and unpack make Coupling a prepacker: its conditioner's weights
// packed once for a training step's shards of n rows.
func (c *Coupling) prepack(n int) { c.cond.prepack(c.params, n) }
func (c *Coupling) unpack()       { c.cond.unpack() }

func (c *Coupling) Dim() int          { return c.d }
func (c *Coupling) NumParams() int    { return len(c.params) }
func (c *Coupling) Params() []float64 { return c.params }
func (c *Coupling) ContextDim() int   { return c.nc }

func (c *Coupling) BindParams(p []float64) {
	copy(p, c.params)
	c.params = p
}

// couplingTmpLen returns the length of the scratch tmp that h's methods
// get for nb transformed dimensions: 2·nb, or tmpLen(nb) for a coupling
// function that says how much it needs.
func couplingTmpLen(h CouplingFunc, nb int) int {
	if t, ok := h.(interface{ tmpLen(nb int) int }); ok {
		return t.tmpLen(nb)
	}
	return 2 * nb
}

// couplingWork is the layout of a coupling layer's workspace for n rows: the
// conditioner's input [in_A ; c] (n×(|A|+C)), its workspace, ∂L/∂θ, the
// gradient with respect to the conditioner's input (n×(|A|+C)) and scratch
// for one row: 4·|B| values and h's scratch (6·|B| for Affine and
// Additive).
type couplingWork[T kernElem] struct {
	xa, cw, dtheta, dxa, row []T
}

func couplingSplit[T kernElem](c *Coupling, work []T, n int) couplingWork[T] {
	na, nt := len(c.ia)+c.nc, c.cond.out()
	var w couplingWork[T]
	take := func(m int) []T {
		s := work[:m:m]
		work = work[m:]
		return s
	}
	w.xa = take(n * na)
	w.cw = take(c.cond.workLen(n))
	w.dtheta = take(n * nt)
	w.dxa = take(n * na)
	w.row = take(4*len(c.ib) + c.tl)
	return w
}

func (c *Coupling) WorkLen(n int) int {
	na, nt := len(c.ia)+c.nc, c.cond.out()
	return 2*n*na + c.cond.workLen(n) + n*nt + 4*len(c.ib) + c.tl
}

// checkContext panics unless ctx holds the n rows of C context columns a
// conditional layer needs; a layer without context ignores ctx.
func (c *Coupling) checkContext(method, name string, ctx []float64, n int) {
	couplingCheckContext(c, method, name, ctx, n)
}

func couplingCheckContext[T kernElem](c *Coupling, method, name string, ctx []T, n int) {
	if c.nc > 0 && len(ctx) != n*c.nc {
		panic(fmt.Sprintf("flow: %s: %s of length %d, want %d rows × %d context columns = %d", method, name, len(ctx), n, c.nc, n*c.nc))
	}
}

// gatherInput writes the conditioner's input rows [in_A ; c] into xa
// (n×(|A|+C)).
func couplingGather[T kernElem](c *Coupling, xa, in, ctx []T, n int) {
	if c.nc == 0 {
		gatherCols(xa, in, c.ia, c.d)
		return
	}
	d, na, nc := c.d, len(c.ia), c.nc
	m := na + nc
	for r := 0; r < n; r++ {
		ir, xr := in[r*d:r*d+d], xa[r*m:r*m+m]
		for k, i := range c.ia {
			xr[k] = ir[i]
		}
		copy(xr[na:], ctx[r*nc:r*nc+nc])
	}
}

// pass runs the conditioner on the pass-through half of in and the context
// and applies h (or h⁻¹) to the other half, row by row.
func (c *Coupling) pass(out, in, ctx, logdet, work []float64, forward bool, dr dropout) {
	couplingPass(c, c.params, out, in, ctx, logdet, work, forward, dr)
}

// couplingPass is pass for either element type, with the parameters p.
func couplingPass[T kernElem](c *Coupling, p, out, in, ctx, logdet, work []T, forward bool, dr dropout) {
	n, d, nb := len(logdet), c.d, len(c.ib)
	w := couplingSplit(c, work, n)
	couplingGather(c, w.xa, in, ctx, n)
	theta := mlpForward(&c.cond, p, w.xa, n, w.cw, dr)
	h := couplingRows[T](c)
	nt := c.cond.out()
	ub, vb, tmp := w.row[:nb], w.row[nb:2*nb], w.row[2*nb:2*nb+c.tl]
	for r := 0; r < n; r++ {
		ir, or := in[r*d:r*d+d], out[r*d:r*d+d]
		for k, i := range c.ib {
			ub[k] = ir[i]
		}
		th := theta[r*nt : r*nt+nt]
		if forward {
			logdet[r] += h.Forward(vb, ub, th, tmp)
		} else {
			logdet[r] += h.Inverse(vb, ub, th, tmp)
		}
		for _, i := range c.ia {
			or[i] = ir[i]
		}
		for k, i := range c.ib {
			or[i] = vb[k]
		}
	}
}

// Forward: x_A = z_A, x_B = h(z_B, g(z_A, c)). ctx holds the rows'
// contexts, n×C (ignored when C = 0).
func (c *Coupling) Forward(x, z, ctx, logdet, work []float64) {
	checkRows("Coupling.Forward", c.d, logdet, x, z)
	c.checkContext("Coupling.Forward", "context", ctx, len(logdet))
	c.pass(x, z, ctx, logdet, work, true, dropout{})
}

// Inverse: z_A = x_A, z_B = h⁻¹(x_B, g(x_A, c)). ctx holds the rows'
// contexts, n×C (ignored when C = 0).
func (c *Coupling) Inverse(z, x, ctx, logdet, work []float64) {
	checkRows("Coupling.Inverse", c.d, logdet, x, z)
	c.checkContext("Coupling.Inverse", "context", ctx, len(logdet))
	c.pass(z, x, ctx, logdet, work, false, dropout{})
}

// forwardDrop is Forward with the dropout dr in a residual conditioner's
// blocks (an Inverted coupling trained by maximum likelihood; dropout.go).
func (c *Coupling) forwardDrop(x, z, ctx, logdet, work []float64, dr dropout) {
	checkRows("Coupling.Forward", c.d, logdet, x, z)
	c.checkContext("Coupling.Forward", "context", ctx, len(logdet))
	c.pass(x, z, ctx, logdet, work, true, dr)
}

// forwardBackwardDrop is ForwardBackward after forwardDrop with the same
// dropout.
func (c *Coupling) forwardBackwardDrop(dz, dc, dx, dld, z, x, ctx, work, grad []float64, dr dropout) {
	c.backward("Coupling.ForwardBackward", dz, dc, dx, dld, z, x, work, grad, true, dr)
}

// inverseDrop is Inverse with the dropout dr in a residual conditioner's
// blocks (training by maximum likelihood; dropout.go).
func (c *Coupling) inverseDrop(z, x, ctx, logdet, work []float64, dr dropout) {
	checkRows("Coupling.Inverse", c.d, logdet, x, z)
	c.checkContext("Coupling.Inverse", "context", ctx, len(logdet))
	c.pass(z, x, ctx, logdet, work, false, dr)
}

// inverseBackwardDrop is InverseBackward after inverseDrop with the same
// dropout.
func (c *Coupling) inverseBackwardDrop(dx, dc, dz, dld, x, z, ctx, work, grad []float64, dr dropout) {
	c.backward("Coupling.InverseBackward", dx, dc, dz, dld, x, z, work, grad, false, dr)
}

// backward is shared by both directions. For the map out = T(in | c) with
// out_A = in_A and out_B = h^{±1}(in_B, θ), θ = g(u), u = [in_A ; c], and
// the log-det ld = ld_h(in_B, θ):
//
//	∂L/∂in_B = (∂L/∂out_B)·∂out_B/∂in_B           (from h's backward)
//	∂L/∂θ    = from h's backward, row by row (through out_B and ld)
//	∂L/∂u    = (∂L/∂θ)·∂θ/∂u                      (through the conditioner)
//	∂L/∂in_A = ∂L/∂out_A + ∂L/∂u[:|A|]
//	∂L/∂c   += ∂L/∂u[|A|:]
//
// The context reaches out and ld only through θ (out_A = in_A does not
// involve it), so its gradient is the context part of the conditioner's
// input gradient; it is added into dc, which other layers share. The
// conditioner's parameters get ∂L/∂θ backpropagated through g.
func (c *Coupling) backward(method string, din, dc, dout, dld, in, out, work, grad []float64, forward bool, dr dropout) {
	couplingBackward(c, c.params, method, din, dc, dout, dld, in, out, work, grad, forward, dr)
}

// couplingBackward is backward for either element type, with the
// parameters p.
func couplingBackward[T kernElem](c *Coupling, p []T, method string, din, dc, dout, dld, in, out, work, grad []T, forward bool, dr dropout) {
	n, d, nb := len(dld), c.d, len(c.ib)
	if dc != nil {
		couplingCheckContext(c, method, "context gradient", dc, n)
	}
	w := couplingSplit(c, work, n)
	nt := c.cond.out()
	theta := mlpOutput(&c.cond, w.cw, n) // left by the pass
	h := couplingRows[T](c)
	r6 := w.row
	ub, vb, dub, dvb, tmp := r6[:nb], r6[nb:2*nb], r6[2*nb:3*nb], r6[3*nb:4*nb], r6[4*nb:4*nb+c.tl]
	for r := 0; r < n; r++ {
		ir, or := in[r*d:r*d+d], out[r*d:r*d+d]
		dir, dor := din[r*d:r*d+d], dout[r*d:r*d+d]
		for k, i := range c.ib {
			ub[k] = ir[i]
			vb[k] = or[i]
			dvb[k] = dor[i]
		}
		th := theta[r*nt : r*nt+nt]
		dth := w.dtheta[r*nt : r*nt+nt]
		if forward {
			h.ForwardBackward(dub, dth, dvb, dld[r], ub, vb, th, tmp)
		} else {
			h.InverseBackward(dub, dth, dvb, dld[r], ub, vb, th, tmp)
		}
		for k, i := range c.ib {
			dir[i] = dub[k]
		}
	}
	mlpBackward(&c.cond, p, w.xa, n, w.cw, w.dtheta, grad, w.dxa, dr)
	na, nc := len(c.ia), c.nc
	m := na + nc
	for r := 0; r < n; r++ {
		dir, dor := din[r*d:r*d+d], dout[r*d:r*d+d]
		du := w.dxa[r*m : r*m+m]
		for k, i := range c.ia {
			dir[i] = dor[i] + du[k]
		}
		if nc > 0 && dc != nil {
			dcr := dc[r*nc : r*nc+nc]
			for j, v := range du[na:] {
				dcr[j] += v
			}
		}
	}
}

// ForwardBackward backpropagates through Forward (see backward); when dc
// is not nil it adds ∂L/∂c into it. The context the pass read is kept in
// work, so ctx is not read again.
func (c *Coupling) ForwardBackward(dz, dc, dx, dld, z, x, ctx, work, grad []float64) {
	c.backward("Coupling.ForwardBackward", dz, dc, dx, dld, z, x, work, grad, true, dropout{})
}

// InverseBackward backpropagates through Inverse (see backward); when dc
// is not nil it adds ∂L/∂c into it. The context the pass read is kept in
// work, so ctx is not read again.
func (c *Coupling) InverseBackward(dx, dc, dz, dld, x, z, ctx, work, grad []float64) {
	c.backward("Coupling.InverseBackward", dx, dc, dz, dld, x, z, work, grad, false, dropout{})
}

// gatherCols copies the columns idx of the rows of src (width d) into dst,
// row-major with width len(idx).
func gatherCols[T kernElem](dst, src []T, idx []int, d int) {
	m := len(idx)
	for r := 0; r*d < len(src); r++ {
		sr, dr := src[r*d:r*d+d], dst[r*m:r*m+m]
		for k, i := range idx {
			dr[k] = sr[i]
		}
	}
}

// checkMaskDim panics unless 0 ≤ d ≤ maxDim.
func checkMaskDim(fn string, d int) {
	if d < 0 || d > maxDim {
		panic(fmt.Sprintf("flow: %s: dimension %d outside [0, %d]", fn, d, maxDim))
	}
}

// HalfMask returns the mask of d dimensions whose first ⌈d/2⌉ pass through;
// flip negates it. It panics if d is negative or more than 2^24.
func HalfMask(d int, flip bool) []bool {
	checkMaskDim("HalfMask", d)
	m := make([]bool, d)
	for i := range m {
		m[i] = (i < (d+1)/2) != flip
	}
	return m
}

// EvenOddMask returns the mask of d dimensions whose even-indexed dimensions
// pass through; flip negates it. It panics if d is negative or more than
// 2^24.
func EvenOddMask(d int, flip bool) []bool {
	checkMaskDim("EvenOddMask", d)
	m := make([]bool, d)
	for i := range m {
		m[i] = (i%2 == 0) != flip
	}
	return m
}

// RealNVPConfig configures NewRealNVP.
type RealNVPConfig struct {
	// Dim is D ≥ 2.
	Dim int
	// Layers is the number of coupling layers.
	Layers int
	// Hidden and Activation configure every conditioner.
	Hidden     []int
	Activation Activation
	// EvenOdd splits even and odd dimensions instead of halves.
	EvenOdd bool
	// Clamp soft-clamps the scales (0: no clamp). Additive uses NICE's
	// additive coupling instead of the affine one.
	Clamp    float64
	Additive bool
	// Seed seeds every conditioner (each layer gets its own stream).
	Seed uint64
	// ContextDim is the width C ≥ 0 of the context every coupling layer
	// conditions on (see CouplingConfig.ContextDim); 0, the default, makes
	// an unconditional flow.
	ContextDim int
	// ResidualBlocks gives every conditioner R residual blocks of the one
	// width Hidden[0] (see CouplingConfig.ResidualBlocks); 0, the default,
	// makes plain networks.
	ResidualBlocks int
}

// NewRealNVP returns a flow of Layers coupling layers whose masks alternate,
// as in Real NVP's double layer: the dimensions that pass through one layer
// are transformed by the next. With ContextDim = C > 0 every layer conditions
// on the same C context columns and the flow's ContextDim is C.
func NewRealNVP(cfg RealNVPConfig) (*Flow, error) {
	var h CouplingFunc = Affine{Clamp: cfg.Clamp}
	if cfg.Additive {
		h = Additive{}
	}
	if err := checkCouplingFlow("NewRealNVP", cfg.Dim, cfg.Layers, cfg.Hidden, cfg.ResidualBlocks, cfg.ContextDim, h, float64(cfg.Layers)); err != nil {
		return nil, err
	}
	layers := make([]Layer, cfg.Layers)
	for l := range layers {
		var mask []bool
		if cfg.EvenOdd {
			mask = EvenOddMask(cfg.Dim, l%2 == 1)
		} else {
			mask = HalfMask(cfg.Dim, l%2 == 1)
		}
		c, err := NewCoupling(CouplingConfig{
			Mask:           mask,
			Hidden:         cfg.Hidden,
			Activation:     cfg.Activation,
			Func:           h,
			Seed:           cfg.Seed + uint64(l)*0x9e3779b97f4a7c15,
			ContextDim:     cfg.ContextDim,
			ResidualBlocks: cfg.ResidualBlocks,
		})
		if err != nil {
			return nil, fmt.Errorf("flow: NewRealNVP: layer %d: %w", l, err)
		}
		layers[l] = c
	}
	return New(layers...)
}

// checkCouplingFlow validates what NewRealNVP and NewNSF share, before
// anything is allocated: the number of layers, the dimension, the hidden
// widths, the residual blocks and the context dimension, and the sizes of a flow of layers
// couplings with function h whose masks alternate between ⌈D/2⌉ and ⌊D/2⌋
// pass-through dimensions (halves or evens and odds alike), every
// conditioner also reading the C context columns. boundaries is the number
// of layers of the flow, parameterless ones included, each a batch
// boundary in the flow's workspace.
func checkCouplingFlow(method string, dim, layers int, hidden []int, blocks, nc int, h CouplingFunc, boundaries float64) error {
	if layers < 1 {
		return fmt.Errorf("flow: %s: %d layers", method, layers)
	}
	if dim < 2 {
		return fmt.Errorf("flow: %s: dimension %d: a coupling layer needs D ≥ 2", method, dim)
	}
	if err := checkDim(dim, 2); err != nil {
		return fmt.Errorf("flow: %s: %w", method, err)
	}
	for i, w := range hidden {
		if w < 1 {
			return fmt.Errorf("flow: %s: hidden layer %d has width %d", method, i, w)
		}
	}
	if err := checkCouplingContextDim(nc); err != nil {
		return fmt.Errorf("flow: %s: %w", method, err)
	}
	if err := checkResidual(blocks, hidden); err != nil {
		return fmt.Errorf("flow: %s: %w", method, err)
	}
	hi, lo, k := (dim+1)/2, dim/2, h.ParamsPerDim()
	s0 := couplingSizeBlocks(hi+nc, lo, k, couplingTmpLen(h, lo), hidden, blocks)
	s1 := couplingSizeBlocks(lo+nc, hi, k, couplingTmpLen(h, hi), hidden, blocks)
	for _, s := range []footprint{s0, s1} {
		if err := checkSize("a layer", s); err != nil {
			return fmt.Errorf("flow: %s: %w", method, err)
		}
	}
	odd, even := float64((layers+1)/2), float64(layers/2)
	total := s0.times(odd).add(s1.times(even)).add(flowWork(dim, boundaries))
	if err := checkSize(fmt.Sprintf("%d layers", layers), total); err != nil {
		return fmt.Errorf("flow: %s: %w", method, err)
	}
	return nil
}
