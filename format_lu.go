// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "fmt"

// marshalLinearLayer writes an LU-factored linear layer (its permutation,
// signs, the strict triangles of L and U row by row, log|u_ii| and the
// bias), an ActNorm layer (its log-scale, shift and whether it is
// initialised) or a BatchNorm layer (its log-scale, shift, stored
// statistics and ε), FORMAT.md §3.7, §3.8 and §3.9.
func marshalLinearLayer(path string, l Layer, ld *layerDoc) error {
	switch l := l.(type) {
	case *LULinear:
		ld.Type = "lu_linear"
		ld.Perm, ld.Signs = l.Perm(), l.Signs()
		ld.Lower = append([]float64(nil), l.lower()...)
		ld.Upper = append([]float64(nil), l.upper()...)
		ld.LogDiag = append([]float64(nil), l.logDiag()...)
		ld.Bias = l.Bias()
		for _, f := range []struct {
			name string
			v    []float64
		}{{"lower", ld.Lower}, {"upper", ld.Upper}, {"log_diag", ld.LogDiag}, {"bias", ld.Bias}} {
			if err := checkFiniteDoc(path+"."+f.name, f.v); err != nil {
				return err
			}
		}
	case *ActNorm:
		ld.Type = "actnorm"
		ld.LogScale, ld.Shift = l.LogScale(), l.Shift()
		init := l.initialized
		ld.Initialized = &init
		if err := checkFiniteDoc(path+".log_scale", ld.LogScale); err != nil {
			return err
		}
		if err := checkFiniteDoc(path+".shift", ld.Shift); err != nil {
			return err
		}
	case *BatchNorm:
		ld.Type = "batch_norm"
		ld.LogScale, ld.Shift = l.LogScale(), l.Shift()
		ld.Mean, ld.Variance = l.Mean(), l.Variance()
		eps := l.eps
		ld.Epsilon = &eps
		for _, f := range []struct {
			name string
			v    []float64
		}{{"log_scale", ld.LogScale}, {"shift", ld.Shift}, {"mean", ld.Mean}, {"variance", ld.Variance}} {
			if err := checkFiniteDoc(path+"."+f.name, f.v); err != nil {
				return err
			}
		}
	default:
		return formatErr(path, "layer type %T is not in the format", l)
	}
	return nil
}

// unmarshalLinearLayer reads an lu_linear, actnorm or batch_norm layer of
// a document of dimension dim. None has a context.
func unmarshalLinearLayer(path string, ld *layerDoc, dim int) (Layer, error) {
	// values checks that the field name holds n finite numbers.
	values := func(name string, v []float64, n int) error {
		if len(v) != n {
			return formatErr(path+"."+name, "%d values, want %d", len(v), n)
		}
		return checkFiniteDoc(path+"."+name, v)
	}
	if ld.Type == "batch_norm" {
		if err := disallow(path, ld.Type, present(ld, "log_scale", "shift", "mean", "variance", "epsilon")); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			name string
			v    []float64
		}{{"log_scale", ld.LogScale}, {"shift", ld.Shift}, {"mean", ld.Mean}, {"variance", ld.Variance}} {
			if err := values(f.name, f.v, dim); err != nil {
				return nil, err
			}
		}
		for i, v := range ld.Variance {
			if !(v > 0) {
				return nil, formatErr(fmt.Sprintf("%s.variance[%d]", path, i), "%v, want a number > 0", v)
			}
		}
		if ld.Epsilon == nil {
			return nil, formatErr(path+".epsilon", "missing: want a number > 0")
		}
		if err := checkBNEpsilon(*ld.Epsilon); err != nil {
			return nil, formatErr(path+".epsilon", "%v", err)
		}
		b, err := NewBatchNorm(dim, *ld.Epsilon)
		if err != nil {
			return nil, formatErr(path, "%v", err)
		}
		copy(b.params, ld.LogScale)
		copy(b.params[dim:], ld.Shift)
		copy(b.mean, ld.Mean)
		copy(b.vari, ld.Variance)
		return b, nil
	}
	if ld.Type == "actnorm" {
		if err := disallow(path, ld.Type, present(ld, "log_scale", "shift", "initialized")); err != nil {
			return nil, err
		}
		if err := values("log_scale", ld.LogScale, dim); err != nil {
			return nil, err
		}
		if err := values("shift", ld.Shift, dim); err != nil {
			return nil, err
		}
		if ld.Initialized == nil {
			return nil, formatErr(path+".initialized", "missing: want true or false")
		}
		a, err := NewActNorm(dim)
		if err != nil {
			return nil, formatErr(path, "%v", err)
		}
		copy(a.params, ld.LogScale)
		copy(a.params[dim:], ld.Shift)
		a.initialized = *ld.Initialized
		return a, nil
	}
	if err := disallow(path, ld.Type, present(ld, "perm", "signs", "lower", "upper", "log_diag", "bias")); err != nil {
		return nil, err
	}
	// Before anything of D² is read or allocated.
	if err := checkSize("the layer", luSize(dim)); err != nil {
		return nil, formatErr(path+".dim", "%v", err)
	}
	if _, err := permutationField(path+".perm", ld.Perm, dim); err != nil {
		return nil, err
	}
	if len(ld.Signs) != dim {
		return nil, formatErr(path+".signs", "%d entries, want %d", len(ld.Signs), dim)
	}
	for i, s := range ld.Signs {
		if s != 1 && s != -1 {
			return nil, formatErr(fmt.Sprintf("%s.signs[%d]", path, i), "%d, want 1 or -1", s)
		}
	}
	m := dim * (dim - 1) / 2
	for _, f := range []struct {
		name string
		v    []float64
		n    int
	}{{"lower", ld.Lower, m}, {"upper", ld.Upper, m}, {"log_diag", ld.LogDiag, dim}, {"bias", ld.Bias, dim}} {
		if err := values(f.name, f.v, f.n); err != nil {
			return nil, err
		}
	}
	l, err := NewLULinear(LUConfig{Dim: dim, Perm: ld.Perm, Signs: ld.Signs})
	if err != nil {
		return nil, formatErr(path, "%v", err)
	}
	copy(l.lower(), ld.Lower)
	copy(l.upper(), ld.Upper)
	copy(l.logDiag(), ld.LogDiag)
	copy(l.bias(), ld.Bias)
	return l, nil
}
