// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"unsafe"

	"gonum.org/v1/gonum/mat"
)

// OrderKind says how a MADE orders the dimensions of its input.
type OrderKind int

const (
	// NaturalOrder is 0, 1, …, D−1: dimension i has degree i+1.
	NaturalOrder OrderKind = iota
	// ReversedOrder is D−1, …, 1, 0: dimension i has degree D−i.
	ReversedOrder
	// RandomOrder is a uniformly random order drawn from the seed.
	RandomOrder
	// ExplicitOrder is the order given in the configuration's Perm.
	ExplicitOrder
)

// String returns "natural", "reversed", "random" or "explicit".
func (o OrderKind) String() string {
	switch o {
	case NaturalOrder:
		return "natural"
	case ReversedOrder:
		return "reversed"
	case RandomOrder:
		return "random"
	case ExplicitOrder:
		return "explicit"
	}
	return fmt.Sprintf("OrderKind(%d)", int(o))
}

// DegreeKind says how a MADE assigns degrees to its hidden units.
type DegreeKind int

const (
	// SequentialDegrees gives hidden unit k (before sorting) the degree
	// k mod (D−1) + 1.
	SequentialDegrees DegreeKind = iota
	// RandomDegrees gives the first D−1 units of each hidden layer the
	// degrees 1, …, D−1, so that every degree is present, and draws the
	// degree of every other unit uniformly from [1, D−1].
	RandomDegrees
	// ExplicitDegrees takes the degrees from the configuration's
	// HiddenDegrees, as a model file gives them.
	ExplicitDegrees
)

// String returns "sequential" or "random".
func (k DegreeKind) String() string {
	switch k {
	case SequentialDegrees:
		return "sequential"
	case RandomDegrees:
		return "random"
	case ExplicitDegrees:
		return "explicit"
	}
	return fmt.Sprintf("DegreeKind(%d)", int(k))
}

// MADEConfig configures a MADE.
type MADEConfig struct {
	// Dim is the dimension D ≥ 1 of the input; the output has 2D values.
	Dim int
	// Hidden lists the widths of the hidden layers. Each must be at least
	// D−1 (at least 1 when D = 1), or some input could not reach the
	// outputs that may depend on it. None makes the MADE a masked affine
	// map.
	Hidden []int
	// Activation follows every hidden layer.
	Activation Activation
	// Order orders the input dimensions; Perm gives the order when Order
	// is ExplicitOrder and must be nil otherwise.
	Order OrderKind
	// Perm is the explicit order, a permutation of 0, …, D−1 (0-based,
	// like NewPermutation): Perm[p] is the dimension that comes at
	// position p, so it has degree p+1 and its outputs may depend on the
	// dimensions Perm[0], …, Perm[p−1] only.
	Perm []int
	// Degrees chooses how hidden degrees are assigned; HiddenDegrees gives
	// them when Degrees is ExplicitDegrees and must be nil otherwise.
	Degrees DegreeKind
	// HiddenDegrees are explicit hidden degrees: HiddenDegrees[l][k] is
	// the degree of unit k of hidden layer l, in [1, D−1] (1 when D = 1).
	// Each layer's degrees must be sorted, the order in which a MADE keeps
	// its units (and exports them): a model whose units are not sorted is
	// loaded by permuting them, rows of W_l and b_l with columns of
	// W_{l+1}. Explicit degrees need not include every degree, but an
	// output then misses the inputs that only a missing degree would
	// connect.
	HiddenDegrees [][]int
	// Seed seeds the initial weights, a random order and random degrees
	// (each from a stream of its own).
	Seed uint64
	// ContextDim is the width C ≥ 0 of a context c that every output may
	// depend on: the MADE is then a network of [x ; c] whose context inputs
	// have degree 0 (see MADE). With C > 0 the hidden degrees lie in
	// [0, D−1], every hidden layer needs at least D units, and explicit
	// degrees may be 0. With 0, the MADE has no context.
	ContextDim int
	// ResidualBlocks R ≥ 0 makes the MADE a residual MADE (ResMADE): its
	// hidden part is R pre-activation residual blocks of the one width
	// H = Hidden[0] (Hidden must then hold exactly one width), whose
	// masks keep the autoregressive property (see MADE). R ≤ 64. With 0,
	// the plain MADE.
	ResidualBlocks int
}

// MADE is a masked autoencoder for distribution estimation (Germain et al.
// 2015): a multilayer perceptron from R^D to R^{2D} whose weights are masked
// so that the outputs μ_i and α_i of dimension i depend only on the
// dimensions that come before i in the MADE's order. Its output is laid
// out [μ ; α], D values each; the MADE of an autoregressive spline layer
// (AutoregressiveConfig.Spline) has instead the 3K−1 spline parameters of
// each dimension, in dimension-major blocks (docs/design.md §1.7), and the
// same masking rule. As in docs/design.md §1.6:
//
//   - input degrees are the positions of the dimensions in the order,
//     1, …, D: deg(i) = p+1 where Order()[p] = i;
//   - hidden degrees lie in [1, D−1] (they are all 1 when D = 1, which
//     connects them to no output);
//   - a hidden unit k sees unit j of the layer below iff deg(k) ≥ deg(j);
//   - the outputs of dimension d see unit k of the last hidden layer (or
//     input k, with no hidden layer) iff deg(d) > deg(k).
//
// With D = 1 the outputs μ and α are their biases alone.
//
// # Residual blocks
//
// With MADEConfig.ResidualBlocks = R > 0 the MADE is a residual MADE
// (ResMADE; Nash & Durkan 2019, the conditioner of the autoregressive
// neural spline flows of Durkan et al. 2019): its hidden part is R
// pre-activation residual blocks of one width H, all of whose layers share
// one set of sorted hidden degrees, so that every hidden→hidden mask is
// M[k, j] = 1 iff deg(k) ≥ deg(j), the same degrees on both sides. Over a
// row x (the input [c ; x in the order]):
//
//	h_0 = (W_in∘M_in)·x + b_in
//	u_j = act(h_{j−1}),  v_j = act((W_{j,1}∘M)·u_j + b_{j,1})
//	h_j = h_{j−1} + (W_{j,2}∘M)·v_j + b_{j,2}                  (j = 1, …, R)
//	out = (W_out∘M_out)·act(h_R) + b_out
//
// M_in and M_out are the plain MADE's first and output masks. Unit k of
// every h_j, u_j and v_j has the degree deg(k), and depends only on inputs
// of degree ≤ deg(k): by induction, h_0 does; a block's masked products
// keep it (they read units of degree ≤ deg(k)), and the residual
// connection adds h_{j−1}[k], of the same degree. So the outputs keep the
// autoregressive property. There is no activation on the residual stream
// h itself, only before each masked product, as in the pre-activation
// residual conditioner of the couplings (docs/design.md §1.4). The weight
// layers are the 2R + 2 masked layers W_in, W_{1,1}, W_{1,2}, …, W_{R,2},
// W_out, in that order in the parameters, in Mask, Weights and Biases, and
// in the model file; every hidden layer's units have the degrees of
// HiddenDegrees(0).
//
// # Context
//
// A MADE of context dimension C > 0 (a conditional MADE, for p(x | c)) takes
// a context c ∈ R^C beside x, and its outputs may depend on all of c. The
// context inputs have degree 0 and the mask rule is the one above, applied
// to the inputs [x ; c]:
//
//   - a hidden unit of the first hidden layer sees every context input
//     (deg(k) ≥ 0 = deg(c_j));
//   - with no hidden layer, every output sees every context input
//     (deg(d) ≥ 1 > 0);
//   - the hidden degrees lie in [0, D−1] instead of [1, D−1]: a unit of
//     degree 0 sees the context alone (and, in a deeper layer, the units of
//     degree 0 below it), and the outputs of the first dimension in the
//     order, of degree 1, see just those units. Without them the first
//     dimension's μ and α could not depend on c. Sequential degrees give
//     unit k the degree k mod D; random degrees give the first D units of
//     each layer 0, …, D−1 and draw the others uniformly from [0, D−1];
//     explicit degrees may be 0. Every hidden layer needs at least D units,
//     so that every degree is present.
//
// The masks among the inputs x keep the rule above, so μ_i and α_i still
// depend only on the dimensions before i (and on c). With W_x and W_c the
// first layer's weights on x and on c:
//
//	h_1 = act((W_x∘M_x)·x + W_c·c + b_1),   M_x[k, j] = 1 iff deg(k) ≥ deg(x_j),
//
// (the output layer, with no hidden layer: out = (W_x∘M_x)·x + W_c·c + b
// with M_x[d, j] = 1 iff deg(d) > deg(x_j)); every other layer is as
// without a context. With C = 0 nothing changes.
//
// # Storage
//
// The hidden units of every layer are kept sorted by degree (a permutation
// of the units changes nothing mathematically), the input is gathered into
// the order before the first layer (column p of the first layer's weights
// is the input dimension Order()[p]), and the output rows are kept in the
// order too: row p is μ of dimension Order()[p] and row D+p its α. With a
// context, the first layer's input is [c ; x in the order]: the C context
// columns come first (their degree 0 sorts first), so that column C+p is the
// dimension Order()[p]. Every mask is then a staircase: row k of a weight
// matrix is used on a prefix of its columns, of length lim[k],
// non-decreasing in k (in the output layer, within the μ rows and within the
// α rows); in the first layer every prefix holds the C context columns. The parameters are laid out
// layer by layer as W_l (out×in, row-major, in this sorted layout) then b_l.
// Masked weights start at zero and are never read; their gradients are
// never written, so they stay exactly zero in a gradient vector that starts
// at zero, and through training.
//
// Mask, Weights and Biases give each layer in the export layout, and
// SetLayer sets one from it: out×in
// with the input columns of the first layer in dimension order (column i is
// dimension i) followed by the context (column D+j is c_j: the first layer
// is out×(D+C), its context columns unmasked), the output rows in dimension order ([μ_0, …, μ_{D−1},
// α_0, …, α_{D−1}]), hidden units in their stored (sorted) order, and zeros
// where masked. HiddenDegrees and InputDegrees give the degrees in that same
// layout, so that Mask(l) is exactly the mask rule above applied to them.
//
// # Initialisation
//
// Biases are zero; each unmasked weight of hidden unit k is drawn from
// U(−1/√lim[k], 1/√lim[k]), lim[k] being the unit's number of unmasked
// inputs, context inputs included; the output layer is zero, so that μ = α = 0 at the start and a
// MAF or IAF layer starts as the identity. In a residual MADE the hidden
// layers are W_in and both layers of every block, drawn alike: the blocks
// are not zeroed, as in the couplings' residual conditioner (the zero
// output layer alone makes the start the identity, and the blocks then
// start with gradients of their own).
type MADE struct {
	d     int
	c     int   // the context dimension C
	order []int // order[p] is the dimension at position p (degree p+1)
	pos   []int // pos[i] is the position of dimension i: order[pos[i]] = i
	sizes []int // D+C, hidden…, 2D (or P·D)
	// per is 0 for the output layout [μ ; α] of an affine layer, or the
	// number P of outputs per dimension of a dimension-major MADE (a
	// spline autoregressive layer's, P = 3K−1): stored output row p·P + k
	// is output k of the dimension at position p.
	per  int
	act  Activation
	degs [][]int // degs[l] are the sorted degrees of hidden layer l (0-based)
	lims [][]int // lims[l−1] is the staircase of weight layer l (1-based)
	woff []int   // woff[l−1] is the offset of W_l in the parameters; b_l follows it
	maxW int     // the widest hidden layer
	sumH int     // the sum of the hidden widths (residual: (2R + 2)·H, the workspace's n×H slots)
	// blocks is the number R of residual blocks (0: a plain MADE). With
	// R > 0, sizes is D+C, H repeated 2R + 1 times, the output, and degs
	// holds the one sorted degree list of the H units 2R + 1 times.
	blocks int
	// params is the parameter storage (see BindParams).
	params []float64
	// packs are the weights packed for a training step (madePacks), and
	// packs32 those of a float32 training step (Flow32), packed from its
	// own parameters.
	packs   *madePacks[float64]
	packs32 *madePacks[float32]
}

// madePacks holds a MADE's weights packed for the products of one training
// step, as mlpPacks does for a conditioner: packed once before a step's
// shards (Flow's prepack) instead of once per shard and product, used only
// for the parameters (key) and the shard rows (n) they were packed for.
type madePacks[T kernElem] struct {
	key    *T
	n      int
	on     bool
	layers []maskedPack[T]
}

// madePacksOf returns the packs of m's passes in T: packs, or packs32.
func madePacksOf[T kernElem](m *MADE) **madePacks[T] {
	if isF32[T]() {
		return (**madePacks[T])(unsafe.Pointer(&m.packs32))
	}
	return (**madePacks[T])(unsafe.Pointer(&m.packs))
}

// prepack packs the weights of every layer for shards of n rows.
func (m *MADE) prepack(n int) { madePrepack(m, m.params, n) }

// unpack drops the packed weights from the passes (keeping the buffers).
func (m *MADE) unpack() { madeUnpack[float64](m) }

// madePrepack packs the weights in p of every layer for shards of n rows.
func madePrepack[T kernElem](m *MADE, p []T, n int) {
	if len(p) == 0 || n <= 0 {
		return
	}
	L := len(m.sizes) - 1
	pp := madePacksOf[T](m)
	if *pp == nil {
		*pp = &madePacks[T]{layers: make([]maskedPack[T], L)}
	}
	pk := *pp
	for l := 1; l <= L; l++ {
		w, _ := madeLayer(m, p, l)
		pk.layers[l-1].pack(w, m.lims[l-1], n, m.sizes[l-1], m.sizes[l])
	}
	pk.key, pk.n, pk.on = &p[0], n, true
}

// madeUnpack is unpack for either element type.
func madeUnpack[T kernElem](m *MADE) {
	if pk := *madePacksOf[T](m); pk != nil {
		pk.on, pk.key = false, nil
	}
}

// madePacked returns layer l's packed weights if they were packed from
// the parameters p for passes over n rows, else nil.
func madePacked[T kernElem](m *MADE, p []T, l, n int) *maskedPack[T] {
	if pk := *madePacksOf[T](m); pk != nil && pk.on && pk.n == n && len(p) > 0 && pk.key == &p[0] {
		return &pk.layers[l-1]
	}
	return nil
}

// madeMaskedFwd computes layer l's whole product y = x·(W_l∘M_l)ᵀ + b_l
// over n rows, with the parameters p, and, when act, the activation
// y = act(y) after it: ReLU fused into the product (maskedForwardAct), tanh
// in a pass after it. Weights packed for a training step in T
// (madePacks) are used where they match.
func madeMaskedFwd[T kernElem](m *MADE, p []T, l int, y, x []T, n int, act bool) {
	w, b := madeLayer(m, p, l)
	in, out := m.sizes[l-1], m.sizes[l]
	fuse := act && m.act == ReLU
	if pk := madePacked(m, p, l, n); pk != nil {
		maskedPackedForwardAct(y, x, w, b, m.lims[l-1], pk, n, in, out, fuse)
	} else {
		maskedForwardAct(y, x, w, b, m.lims[l-1], n, in, out, fuse)
	}
	if act && !fuse {
		applyT(m.act, y[:n*out])
	}
}

// madeMaskedBwdX computes dx = dy·(W_l∘M_l) over n rows, with the
// parameters p, and, when h is not nil, the gradient through the activation
// whose output h the layer read, dx ⊙= act'(h): ReLU fused into the
// product (maskedBackwardXAct), tanh in a pass after it.
func madeMaskedBwdX[T kernElem](m *MADE, p []T, l int, dx, dy, h []T, n int) {
	w, _ := madeLayer(m, p, l)
	in, out := m.sizes[l-1], m.sizes[l]
	var of []T // h, for the product to apply ReLU's gradient
	if m.act == ReLU {
		of = h
	}
	if pk := madePacked(m, p, l, n); pk != nil {
		maskedPackedBackwardXAct(dx, dy, w, m.lims[l-1], pk, n, in, out, of)
	} else {
		maskedBackwardXAct(dx, dy, w, m.lims[l-1], n, in, out, of)
	}
	if h != nil && of == nil {
		backwardT(m.act, dx[:n*in], h[:n*in])
	}
}

// NewMADE returns a MADE, or an error saying what is wrong with the
// configuration.
func NewMADE(cfg MADEConfig) (*MADE, error) { return newMADE("NewMADE", cfg, false, nil) }

// checkMADEShapeSpline checks the dimension, context dimension and hidden
// widths of a MADE, and its sizes against the limits (arLayerSize), before
// anything is allocated; sp is the element-wise map of the autoregressive
// layer it drives (nil: affine).
func checkMADEShapeSpline(caller string, d, c int, hidden []int, blocks int, ar bool, sp *RQSpline) error {
	if err := checkDim(d, 1); err != nil {
		return fmt.Errorf("flow: %s: %w", caller, err)
	}
	if c < 0 {
		return fmt.Errorf("flow: %s: context dimension %d < 0", caller, c)
	}
	if c > maxDim {
		return fmt.Errorf("flow: %s: context dimension %d is more than the limit of %d", caller, c, maxDim)
	}
	for i, h := range hidden {
		if h < 1 {
			return fmt.Errorf("flow: %s: hidden layer %d has width %d", caller, i, h)
		}
		if c > 0 && h < d {
			return fmt.Errorf("flow: %s: hidden layer %d has %d units, fewer than D = %d: with a context the hidden degrees run 0, …, D−1, and it cannot connect every input to the outputs that may depend on it", caller, i, h, d)
		}
		if h < max(d-1, 1) {
			return fmt.Errorf("flow: %s: hidden layer %d has %d units, fewer than D−1 = %d: it cannot connect every input to the outputs that may depend on it", caller, i, h, d-1)
		}
	}
	if err := checkResidual(blocks, hidden); err != nil {
		return fmt.Errorf("flow: %s: %v", caller, err)
	}
	size := madeBlocksSize(d, c, hidden, blocks, ar)
	if ar && sp != nil {
		size = arLayerSize(d, c, hidden, blocks, sp)
	}
	if err := checkSize("the layer", size); err != nil {
		return fmt.Errorf("flow: %s: %w", caller, err)
	}
	return nil
}

// newMADE returns the MADE of cfg; ar says that it conditions a MAF or IAF
// layer, whose workspace it sizes. sp is nil for the output layout [μ ; α],
// or the spline of a spline autoregressive layer, whose MADE has
// P = sp.ParamsPerDim() outputs per dimension in dimension-major blocks.
func newMADE(caller string, cfg MADEConfig, ar bool, sp *RQSpline) (*MADE, error) {
	d, nc := cfg.Dim, cfg.ContextDim
	if err := checkMADEShapeSpline(caller, d, nc, cfg.Hidden, cfg.ResidualBlocks, ar, sp); err != nil {
		return nil, err
	}
	if !cfg.Activation.valid() {
		return nil, fmt.Errorf("flow: %s: unknown activation %d", caller, int(cfg.Activation))
	}
	if cfg.Degrees != SequentialDegrees && cfg.Degrees != RandomDegrees && cfg.Degrees != ExplicitDegrees {
		return nil, fmt.Errorf("flow: %s: unknown degree assignment %d", caller, int(cfg.Degrees))
	}
	if cfg.Degrees != ExplicitDegrees && cfg.HiddenDegrees != nil {
		return nil, fmt.Errorf("flow: %s: HiddenDegrees is set but the degrees are %v, not explicit", caller, cfg.Degrees)
	}
	if cfg.Degrees == ExplicitDegrees {
		if err := checkDegrees(cfg.HiddenDegrees, cfg.Hidden, d, nc); err != nil {
			return nil, fmt.Errorf("flow: %s: %v", caller, err)
		}
	}
	if cfg.Order != ExplicitOrder && cfg.Perm != nil {
		return nil, fmt.Errorf("flow: %s: Perm is set but the order is %v, not explicit", caller, cfg.Order)
	}
	order := make([]int, d)
	switch cfg.Order {
	case NaturalOrder:
		for p := range order {
			order[p] = p
		}
	case ReversedOrder:
		for p := range order {
			order[p] = d - 1 - p
		}
	case RandomOrder:
		order = rand.New(rand.NewPCG(cfg.Seed, 0xda942042e4dd58b5)).Perm(d)
	case ExplicitOrder:
		if len(cfg.Perm) != d {
			return nil, fmt.Errorf("flow: %s: explicit order has %d entries, want D = %d", caller, len(cfg.Perm), d)
		}
		copy(order, cfg.Perm)
	default:
		return nil, fmt.Errorf("flow: %s: unknown order %d", caller, int(cfg.Order))
	}
	pos := make([]int, d)
	for i := range pos {
		pos[i] = -1
	}
	for p, i := range order {
		if i < 0 || i >= d {
			return nil, fmt.Errorf("flow: %s: explicit order: entry %d is %d, outside [0, %d): the order must be a permutation of 0, …, D−1", caller, p, i, d)
		}
		if pos[i] >= 0 {
			return nil, fmt.Errorf("flow: %s: explicit order: dimension %d appears twice (entries %d and %d): the order must be a permutation of 0, …, D−1", caller, i, pos[i], p)
		}
		pos[i] = p
	}

	m := &MADE{d: d, c: nc, order: order, pos: pos, act: cfg.Activation}
	if sp != nil {
		m.per = sp.ParamsPerDim()
	}
	m.blocks = cfg.ResidualBlocks
	m.sizes = residualChain(d+nc, cfg.Hidden, m.outPerDim()*d, m.blocks)

	// Hidden degrees, sorted: nd of them, from lo.
	lo, nd := hiddenDegreeRange(d, nc)
	drnd := rand.New(rand.NewPCG(cfg.Seed, 0x2545f4914f6cdd1d))
	for _, h := range cfg.Hidden {
		deg := make([]int, h)
		for k := range deg {
			switch {
			case cfg.Degrees == ExplicitDegrees:
				deg[k] = cfg.HiddenDegrees[len(m.degs)][k]
			case nd == 1:
				deg[k] = lo
			case cfg.Degrees == SequentialDegrees || k < nd:
				deg[k] = k%nd + lo
			default:
				deg[k] = lo + drnd.IntN(nd)
			}
		}
		sort.Ints(deg)
		m.degs = append(m.degs, deg)
		m.maxW = max(m.maxW, h)
		m.sumH += h
	}
	if m.blocks > 0 {
		// Every layer of the residual stream and of the blocks has the
		// units, and so the degrees, of the one hidden width.
		for range 2 * m.blocks {
			m.degs = append(m.degs, m.degs[0])
		}
		m.sumH = (2*m.blocks + 2) * m.maxW
	}

	// Staircases. prev holds the degrees of the layer below, sorted: the
	// first layer's input is [c ; x in the order], of degrees 0 (C times),
	// 1, …, D.
	prev := make([]int, nc+d)
	for p := 0; p < d; p++ {
		prev[nc+p] = p + 1
	}
	for _, deg := range m.degs {
		lim := make([]int, len(deg))
		for k, dk := range deg {
			// M[k,j] = 1 iff deg(k) ≥ deg(j): j < #{j : deg(j) ≤ dk}.
			lim[k] = sort.SearchInts(prev, dk+1)
		}
		m.lims = append(m.lims, lim)
		prev = deg
	}
	lim := make([]int, m.outPerDim()*d)
	for p := 0; p < d; p++ {
		// M[d,k] = 1 iff deg(d) > deg(k): k < #{k : deg(k) < p+1}.
		l := sort.SearchInts(prev, p+1)
		if m.per > 0 {
			// Dimension-major: rows p·P, …, (p+1)·P − 1 are position p's,
			// one staircase over all the output rows.
			for k := 0; k < m.per; k++ {
				lim[p*m.per+k] = l
			}
			continue
		}
		lim[p] = l
		lim[d+p] = l
	}
	m.lims = append(m.lims, lim)

	off := 0
	for l := 1; l < len(m.sizes); l++ {
		m.woff = append(m.woff, off)
		off += m.sizes[l]*m.sizes[l-1] + m.sizes[l]
	}
	m.params = make([]float64, off)
	m.init(rand.New(rand.NewPCG(cfg.Seed, 0x5851f42d4c957f2d)))
	return m, nil
}

// hiddenDegreeRange returns the hidden degrees of a MADE of dimension d and
// context dimension c: the nd degrees lo, …, lo+nd−1. Without a context
// they are 1, …, D−1 (just 1 when D = 1); with one, 0, …, D−1.
func hiddenDegreeRange(d, c int) (lo, nd int) {
	if c > 0 {
		return 0, d
	}
	return 1, max(d-1, 1)
}

// checkDegrees validates explicit hidden degrees of a MADE of dimension d
// and context dimension c.
func checkDegrees(degs [][]int, hidden []int, d, c int) error {
	if len(degs) != len(hidden) {
		return fmt.Errorf("explicit degrees for %d hidden layers, want %d", len(degs), len(hidden))
	}
	lo, nd := hiddenDegreeRange(d, c)
	hi := lo + nd - 1
	for l, dg := range degs {
		if len(dg) != hidden[l] {
			return fmt.Errorf("hidden layer %d: %d explicit degrees for %d units", l, len(dg), hidden[l])
		}
		for k, v := range dg {
			if v < lo || v > hi {
				return fmt.Errorf("hidden layer %d: unit %d has degree %d, outside [%d, %d]", l, k, v, lo, hi)
			}
			if k > 0 && v < dg[k-1] {
				return fmt.Errorf("hidden layer %d: degrees are not sorted (unit %d has %d after %d): permute the units to sort them", l, k, v, dg[k-1])
			}
		}
	}
	return nil
}

// init sets the initial parameters (see MADE).
func (m *MADE) init(rnd *rand.Rand) {
	clear(m.params)
	L := len(m.sizes) - 1
	for l := 1; l < L; l++ {
		w, _ := m.layer(m.params, l)
		in := m.sizes[l-1]
		for k, lk := range m.lims[l-1] {
			r := 1 / math.Sqrt(float64(max(lk, 1)))
			for j := 0; j < lk; j++ {
				w[k*in+j] = r * (2*rnd.Float64() - 1)
			}
		}
	}
}

// Dim returns D.
func (m *MADE) Dim() int { return m.d }

// outPerDim returns the number of outputs per dimension: 2 (μ and α), or
// P for a dimension-major MADE.
func (m *MADE) outPerDim() int {
	if m.per > 0 {
		return m.per
	}
	return 2
}

// nout returns the number of outputs, 2D or P·D.
func (m *MADE) nout() int { return m.outPerDim() * m.d }

// ContextDim returns C, the width of the context (0: none).
func (m *MADE) ContextDim() int { return m.c }

// NumParams returns the number of parameters, masked weights included.
func (m *MADE) NumParams() int { return len(m.params) }

// Params returns the parameters in the stored layout (a view, not a copy).
func (m *MADE) Params() []float64 { return m.params }

// BindParams copies the current parameters into p, of length NumParams,
// and makes p the MADE's parameter storage.
func (m *MADE) BindParams(p []float64) {
	copy(p, m.params)
	m.params = p
}

// Order returns a copy of the order: Order()[p] is the dimension at
// position p, whose degree is p+1.
func (m *MADE) Order() []int { return append([]int(nil), m.order...) }

// InputDegrees returns the degree of each input dimension, in dimension
// order: the position of the dimension in the order, plus one. The outputs
// μ_i and α_i have the degree of dimension i. The context inputs, which
// follow the dimensions in the export layout, have degree 0.
func (m *MADE) InputDegrees() []int {
	deg := make([]int, m.d)
	for i, p := range m.pos {
		deg[i] = p + 1
	}
	return deg
}

// Hidden returns the widths of the hidden layers.
func (m *MADE) Hidden() []int {
	if m.blocks > 0 {
		return []int{m.sizes[1]}
	}
	return append([]int(nil), m.sizes[1:len(m.sizes)-1]...)
}

// ResidualBlocks returns the number R of residual blocks (0: a plain MADE).
func (m *MADE) ResidualBlocks() int { return m.blocks }

// HiddenDegrees returns the degrees of the units of hidden layer l
// (0-based), in their stored order, which is sorted. They lie in [1, D−1]
// (1 when D = 1), or in [0, D−1] with a context. It panics unless
// 0 ≤ l < len(Hidden()). (The hidden layers of a residual MADE all have
// the degrees of HiddenDegrees(0).)
func (m *MADE) HiddenDegrees(l int) []int {
	if nh := len(m.Hidden()); l < 0 || l >= nh {
		panic(fmt.Sprintf("flow: MADE.HiddenDegrees: hidden layer %d out of range [0, %d)", l, nh))
	}
	return append([]int(nil), m.degs[l]...)
}

// Activation returns the activation of the hidden layers.
func (m *MADE) Activation() Activation { return m.act }

// NumLayers returns the number of weight layers, len(Hidden())+1 (2R + 2
// for a residual MADE of R blocks).
func (m *MADE) NumLayers() int { return len(m.sizes) - 1 }

// denseCost returns Σ in·out over the MADE's weight layers, masked entries
// included: the cost model of docs/design.md §3 counts a pass over n rows as
// 2·n·denseCost flops forward, 4·n·denseCost backward (a staircase kernel
// that skips zero tiles does about half of that).
func (m *MADE) denseCost() int {
	c := 0
	for l := 1; l < len(m.sizes); l++ {
		c += m.sizes[l] * m.sizes[l-1]
	}
	return c
}

// maskedCost returns the number of unmasked weights, Σ over the weight
// layers of each unit's fan-in lim[k]: the arithmetic a pass cannot skip,
// by the cost model's counting (2·n·maskedCost flops forward).
func (m *MADE) maskedCost() int {
	c := 0
	for _, lim := range m.lims {
		for _, l := range lim {
			c += l
		}
	}
	return c
}

// layer returns the weights and biases of weight layer l (1-based) in p,
// which is the parameters or a gradient of the same layout.
func (m *MADE) layer(p []float64, l int) (w, b []float64) { return madeLayer(m, p, l) }

// madeLayer is layer for either element type.
func madeLayer[T kernElem](m *MADE, p []T, l int) (w, b []T) {
	in, out := m.sizes[l-1], m.sizes[l]
	o := m.woff[l-1]
	return p[o : o+out*in], p[o+out*in : o+out*in+out]
}

// exportIndex maps entry (r, c) of weight layer l (0-based) in the export
// layout to its stored row and column, and says whether it is masked. The
// first layer's export columns are [x_0, …, x_{D−1}, c_0, …, c_{C−1}], its
// stored ones [c ; x in the order].
func (m *MADE) exportIndex(l, r, c int) (row, col int, masked bool) {
	row, col = r, c
	if l == 0 {
		if c < m.d {
			col = m.c + m.pos[c]
		} else {
			col = c - m.d
		}
	}
	if l == len(m.sizes)-2 {
		if m.per > 0 {
			// Export row i·P + k is output k of dimension i; stored
			// row pos[i]·P + k.
			row = m.pos[r/m.per]*m.per + r%m.per
		} else if r < m.d {
			row = m.pos[r]
		} else {
			row = m.d + m.pos[r-m.d]
		}
	}
	return row, col, col >= m.lims[l][row]
}

func (m *MADE) checkLayer(method string, l int) {
	if l < 0 || l >= len(m.sizes)-1 {
		panic(fmt.Sprintf("flow: MADE.%s: layer %d outside [0, %d)", method, l, len(m.sizes)-1))
	}
}

// Mask returns the mask of weight layer l (0-based; layer NumLayers()−1
// is the output layer) in the export layout: an out×in matrix of ones and
// zeros. The first layer is out×(D+C), its last C columns (the context)
// all ones.
func (m *MADE) Mask(l int) *mat.Dense {
	m.checkLayer("Mask", l)
	out, in := m.sizes[l+1], m.sizes[l]
	mk := mat.NewDense(out, in, nil)
	for r := 0; r < out; r++ {
		for c := 0; c < in; c++ {
			if _, _, masked := m.exportIndex(l, r, c); !masked {
				mk.Set(r, c, 1)
			}
		}
	}
	return mk
}

// Weights returns a copy of the weights of weight layer l (0-based) in the
// export layout, out×in (out×(D+C) for the first layer, the context
// columns last), with zeros where masked.
func (m *MADE) Weights(l int) *mat.Dense {
	m.checkLayer("Weights", l)
	out, in := m.sizes[l+1], m.sizes[l]
	w, _ := m.layer(m.params, l+1)
	dst := mat.NewDense(out, in, nil)
	for r := 0; r < out; r++ {
		for c := 0; c < in; c++ {
			if row, col, masked := m.exportIndex(l, r, c); !masked {
				dst.Set(r, c, w[row*in+col])
			}
		}
	}
	return dst
}

// Biases returns a copy of the biases of weight layer l (0-based) in the
// export layout.
func (m *MADE) Biases(l int) []float64 {
	m.checkLayer("Biases", l)
	_, b := m.layer(m.params, l+1)
	dst := make([]float64, len(b))
	for r := range dst {
		row, _, _ := m.exportIndex(l, r, 0)
		dst[r] = b[row]
	}
	return dst
}

// SetLayer sets the weights and biases of weight layer l (0-based) from the
// export layout. It returns an error, and changes nothing, if the shapes
// are wrong or a masked weight is not zero.
func (m *MADE) SetLayer(l int, w mat.Matrix, b []float64) error {
	if l < 0 || l >= len(m.sizes)-1 {
		return fmt.Errorf("flow: MADE.SetLayer: layer %d outside [0, %d)", l, len(m.sizes)-1)
	}
	out, in := m.sizes[l+1], m.sizes[l]
	if isNil(w) {
		return fmt.Errorf("flow: MADE.SetLayer: layer %d: the weights are nil", l)
	}
	if r, c := w.Dims(); r != out || c != in {
		return fmt.Errorf("flow: MADE.SetLayer: layer %d: weights are %d×%d, want %d×%d", l, r, c, out, in)
	}
	if len(b) != out {
		return fmt.Errorf("flow: MADE.SetLayer: layer %d: %d biases, want %d", l, len(b), out)
	}
	for r := 0; r < out; r++ {
		for c := 0; c < in; c++ {
			if _, _, masked := m.exportIndex(l, r, c); masked && w.At(r, c) != 0 {
				return fmt.Errorf("flow: MADE.SetLayer: layer %d: weight (%d, %d) is masked but %v, not 0", l, r, c, w.At(r, c))
			}
		}
	}
	pw, pb := m.layer(m.params, l+1)
	for r := 0; r < out; r++ {
		row, _, _ := m.exportIndex(l, r, 0)
		pb[row] = b[r]
		for c := 0; c < in; c++ {
			row, col, _ := m.exportIndex(l, r, c)
			pw[row*in+col] = w.At(r, c)
		}
	}
	return nil
}

// workLen is the workspace a pass over n rows needs: every hidden layer's
// output and the output (kept for backward), and two scratch buffers for
// the backward deltas.
func (m *MADE) workLen(n int) int {
	if m.blocks > 0 {
		return n*(m.sumH+m.nout()) + 3*n*m.maxW
	}
	return n*(m.sumH+m.nout()) + 2*n*m.maxW
}

// hiddenOff returns the offset in work of the output of hidden layer l
// (1-based) over n rows.
func (m *MADE) hiddenOff(l, n int) int {
	o := 0
	for k := 1; k < l; k++ {
		o += n * m.sizes[k]
	}
	return o
}

// hiddenForward runs the hidden layers on the n rows of x, the MADE's input
// [c ; x in the order] of width C+D (column C+p is the dimension at
// position p; x has width D and no context columns when C = 0), and returns
// the last hidden layer's output (x itself when there is none), a view of
// work. Every hidden layer's output stays in work:
//
//	h_0 = x,  h_l = act(h_{l−1}·(W_l∘M_l)ᵀ + b_l).
func (m *MADE) hiddenForward(x []float64, n int, work []float64) []float64 {
	return madeHiddenForward(m, m.params, x, n, work, dropout{})
}

// madeHiddenForward is hiddenForward for either element type, with the
// parameters p and, in a residual MADE's blocks, the dropout dr.
func madeHiddenForward[T kernElem](m *MADE, p, x []T, n int, work []T, dr dropout) []T {
	if m.blocks > 0 {
		return madeResHiddenForward(m, p, x, n, work, dr)
	}
	h := x
	off := 0
	for l := 1; l < len(m.sizes)-1; l++ {
		out := m.sizes[l]
		y := work[off : off+n*out]
		madeMaskedFwd(m, p, l, y, h, n, true)
		h = y
		off += n * out
	}
	return h
}

// positionPass is the MADE evaluation of position p (0-based) of the
// sequential direction of a MAF or IAF layer. x (n×(C+D), the MADE's input
// [c ; x in the order]) must hold the context and final values at positions
// < p (columns < C+p); the hidden units of degree < p
// must hold, in work, the values that positionPass left at the earlier
// positions of the same x. It computes the units of degree p of every
// hidden layer, in place in work, and then writes μ and α_raw of position p
// of every row into mu and araw (length n each):
//
//	for each hidden layer l, for k with deg(k) = p:
//	    h_l[·,k] = act(b_l[k] + Σ_{j<lim[k]} h_{l−1}[·,j]·W_l[k,j])
//	mu = out[·, p], araw = out[·, D+p]
//
// Hidden unit k reads units j of the layer below with deg(j) ≤ deg(k) = p,
// computed at this or an earlier position (or, in the first layer, the
// context, of degree 0, and the positions < p), and the outputs of position
// p read units of degree ≤ p; so nothing stale is ever read, each unit is
// computed once over the D positions, and every value is the one a full
// pass on the final x gives, bit for bit (the kernel sums each unit over
// the same prefix in the same order). With a context, the units of degree
// 0 are computed at position 0 from the context alone: the context's share
// of every hidden unit is computed once per call, as part of that unit.
func (m *MADE) positionPass(x []float64, p, n int, work, mu, araw []float64) {
	madePositionPass(m, m.params, x, p, n, work, mu, araw)
}

// madePositionPass is positionPass for either element type, with the
// parameters prm.
func madePositionPass[T kernElem](m *MADE, prm, x []T, p, n int, work, mu, araw []T) {
	h := madePositionHidden(m, prm, x, p, n, work)
	madeOutputRow(m, prm, mu, h, p, n)
	madeOutputRow(m, prm, araw, h, m.d+p, n)
}

// madePositionHidden is the hidden part of positionPass, with the
// parameters prm: it computes the units of degree p of every hidden layer,
// in place in work, and returns the last hidden layer's output (x with no
// hidden layer), whose units of degree ≤ p are then final.
func madePositionHidden[T kernElem](m *MADE, prm, x []T, p, n int, work []T) []T {
	if m.blocks > 0 {
		return madeResPositionHidden(m, prm, x, p, n, work)
	}
	L := len(m.sizes) - 1
	h := x
	tmp := work[n*(m.sumH+m.nout()):] // the backward scratch, unused here
	for l := 1; l < L; l++ {
		in, out := m.sizes[l-1], m.sizes[l]
		y := work[m.hiddenOff(l, n) : m.hiddenOff(l, n)+n*out]
		deg := m.degs[l-1]
		k0, k1 := sort.SearchInts(deg, p), sort.SearchInts(deg, p+1)
		if k1 > k0 {
			blk := k1 - k0
			w, b := madeLayer(m, prm, l)
			t := tmp[:n*blk]
			maskedForward(t, h, w[k0*in:k1*in], b[k0:k1], m.lims[l-1][k0:k1], n, in, blk)
			applyT(m.act, t)
			for r := 0; r < n; r++ {
				copy(y[r*out+k0:r*out+k1], t[r*blk:(r+1)*blk])
			}
		}
		h = y
	}
	return h
}

// madePositionSplinePass is positionPass for a dimension-major MADE (P outputs
// per dimension): it computes the hidden units of degree p and then the P
// output rows p·P, …, (p+1)·P − 1 of every row into theta (n×P, row r the
// P outputs of position p of row r, contiguous), by the same kernel and
// over the same prefix as a full pass's output rows of p; for either
// element type, with the parameters prm.
func madePositionSplinePass[T kernElem](m *MADE, prm, x []T, p, n int, work, theta []T) {
	h := madePositionHidden(m, prm, x, p, n, work)
	madeOutputBlock(m, prm, theta, h, p, n)
}

// outputBlock computes the P output rows of position p of a dimension-major
// MADE for the n rows of h (the last hidden layer's output, or the input)
// into dst, n×P:
//
//	dst[i, k] = b_L[p·P+k] + Σ_{j<lim[p·P+k]} h[i,j]·W_L[p·P+k, j].
func (m *MADE) outputBlock(dst, h []float64, p, n int) { madeOutputBlock(m, m.params, dst, h, p, n) }

// madeOutputBlock is outputBlock for either element type, with the
// parameters prm.
func madeOutputBlock[T kernElem](m *MADE, prm, dst, h []T, p, n int) {
	L := len(m.sizes) - 1
	w, b := madeLayer(m, prm, L)
	in, P := m.sizes[L-1], m.per
	q0, q1 := p*P, (p+1)*P
	maskedForward(dst, h, w[q0*in:q1*in], b[q0:q1], m.lims[L-1][q0:q1], n, in, P)
}

// forward evaluates the MADE on the n rows of x (the input [c ; x in the
// order], of width C+D) and returns its output, n×2D, a view of work: row r is [μ ; α] in the order
// (column p is μ of the dimension at position p, column D+p its α).
//
//	out = h_{L−1}·(W_L∘M_L)ᵀ + b_L.
func (m *MADE) forward(x []float64, n int, work []float64) []float64 {
	return madeForward(m, m.params, x, n, work, dropout{})
}

// madeForward is forward for either element type, with the parameters p
// and the dropout dr in the blocks of a residual MADE (a plain MADE has
// none to drop).
func madeForward[T kernElem](m *MADE, p, x []T, n int, work []T, dr dropout) []T {
	h := madeHiddenForward(m, p, x, n, work, dr)
	y := madeOutput(m, work, n)
	madeMaskedFwd(m, p, len(m.sizes)-1, y, h, n, false)
	return y
}

// outputRow computes output row q (0 ≤ q < 2D, in the stored order) of
// every one of the n rows into dst (length n), from h, the last hidden
// layer's output left by hiddenForward (or the input, with no hidden layer):
//
//	dst[i] = b_L[q] + Σ_{k<lim[q]} h[i,k]·W_L[q,k].
func (m *MADE) outputRow(dst, h []float64, q, n int) { madeOutputRow(m, m.params, dst, h, q, n) }

// madeOutputRow is outputRow for either element type, with the parameters
// p.
func madeOutputRow[T kernElem](m *MADE, p, dst, h []T, q, n int) {
	L := len(m.sizes) - 1
	w, b := madeLayer(m, p, L)
	in := m.sizes[L-1]
	maskedForward(dst, h, w[q*in:(q+1)*in], b[q:q+1], m.lims[L-1][q:q+1], n, in, 1)
}

// output returns the output left in work by forward over n rows.
func (m *MADE) output(work []float64, n int) []float64 { return madeOutput(m, work, n) }

// madeOutput is output for either element type.
func madeOutput[T kernElem](m *MADE, work []T, n int) []T {
	o := n * m.sumH
	return work[o : o+n*m.nout()]
}

// backward backpropagates dout = ∂L/∂out (n×2D, stored order) through the
// pass forward left in work, adds ∂L/∂θ into grad (the MADE's window, in the
// stored layout) and, when dx is not nil, writes ∂L/∂x (n×(C+D), the
// columns of x: ∂L/∂c, then the dimensions in the order) into dx. dout is
// not modified.
//
// The masked layer a_l = h_{l−1}·(W_l∘M_l)ᵀ + b_l is a dense layer whose
// masked weights are constants zero, so with δ_L = dout and δ_l = ∂L/∂a_l:
//
//	∂L/∂W_l[k,j] += Σ_rows δ_l[k]·h_{l−1}[j]   where M_l[k,j] = 1 (else nothing)
//	∂L/∂b_l      += Σ_rows δ_l
//	∂L/∂h_{l−1}  = δ_l·(W_l∘M_l)
//	δ_{l−1}      = ∂L/∂h_{l−1} ⊙ act'(a_{l−1})   (read from h_{l−1})
//	∂L/∂[c ; x]  = δ_1·(W_1∘M_1)
//
// The context columns of M_1 are all ones, so ∂L/∂c = δ_1·W_c and
// ∂L/∂W_c = Σ_rows δ_1ᵀ·c, by the same masked kernels.
func (m *MADE) backward(x []float64, n int, work, dout, grad, dx []float64) {
	madeBackward(m, m.params, x, n, work, dout, grad, dx, dropout{})
}

// madeBackward is backward for either element type, with the parameters p,
// after madeForward with the same dropout dr.
func madeBackward[T kernElem](m *MADE, p, x []T, n int, work, dout, grad, dx []T, dr dropout) {
	if n == 0 {
		return
	}
	if m.blocks > 0 {
		madeResBackward(m, p, x, n, work, dout, grad, dx, dr)
		return
	}
	L := len(m.sizes) - 1
	scratch := work[n*(m.sumH+m.nout()):]
	bufA := scratch[:n*m.maxW]
	bufB := scratch[n*m.maxW : 2*n*m.maxW]
	delta := dout
	for l := L; l >= 1; l-- {
		in, out := m.sizes[l-1], m.sizes[l]
		dw, db := madeLayer(m, grad, l)
		lim := m.lims[l-1]
		var hprev []T
		if l == 1 {
			hprev = x
		} else {
			o := m.hiddenOff(l-1, n)
			hprev = work[o : o+n*in]
		}
		maskedBackwardW(dw, db, delta, hprev, lim, n, in, out)
		if l == 1 {
			if dx != nil {
				madeMaskedBwdX(m, p, l, dx, delta, nil, n)
			}
			break
		}
		next := bufA[:n*in]
		if &next[0] == &delta[0] {
			next = bufB[:n*in]
		}
		madeMaskedBwdX(m, p, l, next, delta, hprev, n)
		delta = next
	}
}
