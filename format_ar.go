// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// layerTypes lists the layer types of the model format.
const layerTypes = `"coupling", "maf", "iaf", "lu_linear", "actnorm", "batch_norm", "permutation", "standardize" or "inverse"`

// marshalMoreLayer writes the autoregressive layers, MAF and IAF: their
// MADE in the export layout of MADE.Weights (input columns and output rows
// in dimension order, hidden units sorted by degree, zeros where masked,
// the context columns last in the first layer), with the order, the hidden
// degrees, the masks and the context dimension, and the clamp of an affine
// layer or the transform and the constants of a spline one.
func marshalMoreLayer(path string, l Layer, ld *layerDoc) error {
	var (
		ar  *arLayer
		spl *RQSpline
	)
	switch l := l.(type) {
	case *LULinear, *ActNorm, *BatchNorm:
		return marshalLinearLayer(path, l, ld)
	case *MAF:
		ld.Type, ar, spl = "maf", &l.arLayer, l.Spline()
	case *IAF:
		ld.Type, ar, spl = "iaf", &l.arLayer, l.Spline()
	default:
		return formatErr(path, "layer type %T is not in the format", l)
	}
	m := ar.made
	ld.Context = contextField(m.c)
	if spl == nil {
		c := ar.clamp
		ld.Clamp = &c
	} else {
		if err := spl.validate(); err != nil {
			return formatErr(path+".transform", "%v", err)
		}
		ld.Transform = "rqspline"
		k, b, mw, mh, md := spl.Bins, spl.Bound, spl.MinWidth, spl.MinHeight, spl.MinDerivative
		ld.Bins, ld.Bound, ld.MinWidth, ld.MinHeight, ld.MinDerivative = &k, &b, &mw, &mh, &md
	}
	ld.Activation = m.act.String()
	ld.Hidden = m.Hidden()
	if r := m.blocks; r > 0 {
		ld.ResidualBlocks = &r
	}
	ld.Order = m.Order()
	ld.Degrees = make([][]int, len(ld.Hidden))
	for i := range ld.Degrees {
		ld.Degrees[i] = m.HiddenDegrees(i)
	}
	for k := 0; k < m.NumLayers(); k++ {
		dd := &denseDoc{In: m.sizes[k], Out: m.sizes[k+1], Biases: m.Biases(k)}
		dd.Weights = append([]float64(nil), m.Weights(k).RawMatrix().Data...)
		for _, v := range m.Mask(k).RawMatrix().Data {
			dd.Mask = append(dd.Mask, int(v))
		}
		p := fmt.Sprintf("%s.made[%d]", path, k)
		if err := checkFiniteDoc(p+".weights", dd.Weights); err != nil {
			return err
		}
		if err := checkFiniteDoc(p+".biases", dd.Biases); err != nil {
			return err
		}
		ld.MADE = append(ld.MADE, dd)
	}
	return nil
}

// unmarshalMoreLayer reads the autoregressive layers of a document of
// dimension dim and context dimension nc.
func unmarshalMoreLayer(path string, ld *layerDoc, dim, nc int) (Layer, error) {
	switch ld.Type {
	case "maf", "iaf":
	case "lu_linear", "actnorm", "batch_norm":
		return unmarshalLinearLayer(path, ld, dim)
	default:
		return nil, formatErr(path+".type", "%q, want %s", ld.Type, layerTypes)
	}
	if err := disallow(path, ld.Type, present(ld, "context", "clamp", "transform", splineFields[0], splineFields[1], splineFields[2], splineFields[3], splineFields[4], "activation", "hidden", "residual_blocks", "order", "degrees", "made")); err != nil {
		return nil, err
	}
	lc, err := layerContext(path, ld, nc)
	if err != nil {
		return nil, err
	}
	// The element-wise map: affine (no transform field) with its clamp, or
	// the rational-quadratic spline with its constants and no clamp.
	var spl *RQSpline
	c := 0.0
	a := "a" // the article of the layer's type
	if ld.Type == "iaf" {
		a = "an"
	}
	switch ld.Transform {
	case "":
		have := [5]bool{ld.Bins != nil, ld.Bound != nil, ld.MinWidth != nil, ld.MinHeight != nil, ld.MinDerivative != nil}
		for i, name := range splineFields {
			if have[i] {
				return nil, formatErr(path+"."+name, "not a field of an affine %q layer: only %s %q layer with \"transform\": \"rqspline\" has it", ld.Type, a, ld.Type)
			}
		}
		if ld.Clamp != nil {
			c = *ld.Clamp
		}
		if !(c >= 0) || math.IsInf(c, 0) {
			return nil, formatErr(path+".clamp", "%v is not a finite non-negative number", c)
		}
	case "rqspline":
		if ld.Clamp != nil {
			return nil, formatErr(path+".clamp", "not a field of %s %q layer with an rqspline transform, which has no scale to clamp (not even 0)", a, ld.Type)
		}
		s, err := unmarshalSpline(path, ld, fmt.Sprintf("%s %q layer with \"transform\": \"rqspline\"", a, ld.Type))
		if err != nil {
			return nil, err
		}
		spl = &s
	case "affine":
		return nil, formatErr(path+".transform", "\"affine\": an affine layer leaves the field out")
	default:
		return nil, formatErr(path+".transform", "%q, want \"rqspline\" (or no field: affine)", ld.Transform)
	}
	// P outputs of the MADE per dimension: (μ, α) or the spline's 3K−1.
	P := 2
	if spl != nil {
		P = 3*spl.Bins - 1
	}
	act, err := parseActivation(path+".activation", ld.Activation)
	if err != nil {
		return nil, err
	}
	if err := checkHidden(path+".hidden", ld.Hidden); err != nil {
		return nil, err
	}
	blocks, err := residualBlocksField(path, ld)
	if err != nil {
		return nil, err
	}
	// Hidden degrees run lo, …, hi: 1, …, max(D−1, 1) without a context,
	// 0, …, D−1 with one; every hidden layer needs a unit of each.
	lo, nd := hiddenDegreeRange(dim, lc)
	hi := lo + nd - 1
	for i, h := range ld.Hidden {
		switch {
		case lc > 0 && h < dim:
			return nil, formatErr(fmt.Sprintf("%s.hidden[%d]", path, i), "width %d is less than D = %d: with a context the hidden degrees run 0, …, D−1", h, dim)
		case h < hi:
			return nil, formatErr(fmt.Sprintf("%s.hidden[%d]", path, i), "width %d is less than D−1 = %d", h, dim-1)
		}
	}
	// The footprint, the spline's (3K−1)·D outputs and workspace counted.
	if err := checkSize("the layer", arLayerSize(dim, lc, ld.Hidden, blocks, spl)); err != nil {
		return nil, formatErr(path+".hidden", "%v", err)
	}
	// The order: a permutation; input dimension i has degree pos[i]+1.
	pos, err := permutationField(path+".order", ld.Order, dim)
	if err != nil {
		return nil, err
	}
	// The hidden degrees: absent (or empty) exactly when there are no
	// hidden layers, as MarshalFlow writes them.
	if ld.Degrees == nil && len(ld.Hidden) > 0 {
		return nil, formatErr(path+".degrees", "missing: want one list per hidden layer, %d", len(ld.Hidden))
	}
	if len(ld.Degrees) != len(ld.Hidden) {
		return nil, formatErr(path+".degrees", "%d lists, want one per hidden layer, %d", len(ld.Degrees), len(ld.Hidden))
	}
	for l, deg := range ld.Degrees {
		if len(deg) != ld.Hidden[l] {
			return nil, formatErr(fmt.Sprintf("%s.degrees[%d]", path, l), "%d degrees, want %d", len(deg), ld.Hidden[l])
		}
		for k, v := range deg {
			if v < lo || v > hi {
				return nil, formatErr(fmt.Sprintf("%s.degrees[%d][%d]", path, l, k), "%d is outside [%d, %d]", v, lo, hi)
			}
		}
	}
	// The MADE's input is [x ; c]: D + C values. A residual MADE's dense
	// layers are W_in, two per block and W_out, every hidden layer with
	// the units (and the degrees) of the one hidden width.
	sizes := residualChain(dim+lc, ld.Hidden, P*dim, blocks)
	chain := ld.Degrees
	for range 2 * blocks {
		chain = append(chain[:len(chain):len(chain)], ld.Degrees[0])
	}
	in0 := ""
	if lc > 0 {
		in0 = fmt.Sprintf("D + C = %d + %d", dim, lc)
	}
	if blocks > 0 && len(ld.MADE) != len(sizes)-1 {
		return nil, formatErr(path+".made", "%d dense layers, want %d (the input layer, 2 per residual block and the output)", len(ld.MADE), len(sizes)-1)
	}
	if _, err := denseParams(path, "made", ld.MADE, sizes, in0); err != nil {
		return nil, err
	}
	// Degrees of the units of every layer: inputs (the context's are 0),
	// hidden, outputs (affine: row r is μ or α of dimension r mod D;
	// spline: row r is parameter r mod P of dimension r / P).
	degs := make([][]int, len(sizes))
	degs[0] = make([]int, dim+lc)
	for i := 0; i < dim; i++ {
		degs[0][i] = pos[i] + 1
	}
	copy(degs[1:], chain)
	out := make([]int, P*dim)
	for r := range out {
		if spl != nil {
			out[r] = pos[r/P] + 1
		} else {
			out[r] = pos[r%dim] + 1
		}
	}
	degs[len(sizes)-1] = out
	// Masks consistent with the degrees, weights zero where masked.
	for l, dd := range ld.MADE {
		p := fmt.Sprintf("%s.made[%d]", path, l)
		in, outN := sizes[l], sizes[l+1]
		if int64(len(dd.Mask)) != int64(in)*int64(outN) {
			return nil, formatErr(p+".mask", "%d values, want %d×%d=%d", len(dd.Mask), outN, in, int64(in)*int64(outN))
		}
		last := l == len(ld.MADE)-1
		for r := 0; r < outN; r++ {
			for c := 0; c < in; c++ {
				i := r*in + c
				want := degs[l+1][r] >= degs[l][c]
				if last {
					want = degs[l+1][r] > degs[l][c]
				}
				if v := dd.Mask[i]; v != 0 && v != 1 {
					return nil, formatErr(fmt.Sprintf("%s.mask[%d]", p, i), "%d, want 0 or 1", v)
				}
				if l == 0 && c >= dim && dd.Mask[i] != 1 {
					return nil, formatErr(fmt.Sprintf("%s.mask[%d]", p, i),
						"%d at row %d, column %d (context input %d), want 1: every unit of the first layer sees the whole context (degree 0)",
						dd.Mask[i], r, c, c-dim)
				}
				if (dd.Mask[i] == 1) != want {
					rel := "≥"
					if last {
						rel = ">"
					}
					return nil, formatErr(fmt.Sprintf("%s.mask[%d]", p, i),
						"%d at row %d, column %d is inconsistent with the degrees: want 1 iff degree %d %s degree %d",
						dd.Mask[i], r, c, degs[l+1][r], rel, degs[l][c])
				}
				if dd.Mask[i] == 0 && dd.Weights[i] != 0 {
					return nil, formatErr(fmt.Sprintf("%s.weights[%d]", p, i), "%v where the mask is 0, want 0", dd.Weights[i])
				}
			}
		}
	}

	// Build the layer: the hidden units sorted by degree (a permutation of
	// units changes nothing), then the MADE's own constructor for the order,
	// the sorted degrees and the context, and the weights set.
	ws := make([]*mat.Dense, len(ld.MADE))
	bs := make([][]float64, len(ld.MADE))
	for l, dd := range ld.MADE {
		ws[l] = mat.NewDense(sizes[l+1], sizes[l], append([]float64(nil), dd.Weights...))
		bs[l] = append([]float64(nil), dd.Biases...)
	}
	var sorted [][]int // nil without hidden layers, as newMADE leaves it
	for l, deg := range chain {
		idx := make([]int, len(deg))
		for k := range idx {
			idx[k] = k
		}
		sort.SliceStable(idx, func(a, b int) bool { return deg[idx[a]] < deg[idx[b]] })
		sd := make([]int, len(deg))
		for k, j := range idx {
			sd[k] = deg[j]
		}
		sorted = append(sorted, sd)
		// Unit k of the sorted layer is unit idx[k]: permute the rows of
		// W_l and b_l and the columns of W_{l+1}.
		w, b := ws[l], bs[l]
		_, in := w.Dims()
		nw := mat.NewDense(len(idx), in, nil)
		nb := make([]float64, len(idx))
		for k, j := range idx {
			nw.SetRow(k, w.RawRowView(j))
			nb[k] = b[j]
		}
		ws[l], bs[l] = nw, nb
		next := ws[l+1]
		r, _ := next.Dims()
		nn := mat.NewDense(r, len(idx), nil)
		for k, j := range idx {
			for i := 0; i < r; i++ {
				nn.Set(i, k, next.At(i, j))
			}
		}
		ws[l+1] = nn
	}
	cfg := AutoregressiveConfig{Dim: dim, Hidden: ld.Hidden, Activation: act, Order: ExplicitOrder, Perm: ld.Order,
		Degrees: ExplicitDegrees, HiddenDegrees: sorted[:len(ld.Hidden)], Clamp: c, ContextDim: lc, Spline: spl, ResidualBlocks: blocks}
	var (
		l Layer
		m *MADE
	)
	if ld.Type == "maf" {
		maf, err := NewMAF(cfg)
		if err != nil {
			return nil, formatErr(path, "%v", err)
		}
		l, m = maf, maf.MADE()
	} else {
		iaf, err := NewIAF(cfg)
		if err != nil {
			return nil, formatErr(path, "%v", err)
		}
		l, m = iaf, iaf.MADE()
	}
	for k := range ws {
		if err := m.SetLayer(k, ws[k], bs[k]); err != nil {
			return nil, formatErr(fmt.Sprintf("%s.made[%d]", path, k), "%v", err)
		}
	}
	return l, nil
}
