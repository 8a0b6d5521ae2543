// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
)

// The model format's base types (FORMAT.md §2.1).
const (
	baseStdNormal   = "std_normal"
	baseDiagNormal  = "diag_normal"
	baseMixture     = "diag_normal_mixture"
	baseConditional = "conditional_diag_normal"
)

// marshalBase returns the base section of a model document.
func marshalBase(b Base) (*baseDoc, error) {
	const path = "base"
	switch b := b.(type) {
	case *StdNormalBase:
		return &baseDoc{Type: baseStdNormal}, nil
	case *DiagGaussianBase:
		bd := &baseDoc{Type: baseDiagNormal, Mean: b.Mean(), LogStd: b.LogStd()}
		if err := checkFiniteDoc(path+".mean", bd.Mean); err != nil {
			return nil, err
		}
		if err := checkFiniteDoc(path+".log_std", bd.LogStd); err != nil {
			return nil, err
		}
		return bd, nil
	case *MixtureBase:
		k := b.k
		bd := &baseDoc{Type: baseMixture, Components: &k,
			Logits:  append([]float64(nil), b.logits()...),
			Means:   append([]float64(nil), b.means()...),
			LogStds: append([]float64(nil), b.logStds()...)}
		for _, f := range []struct {
			name string
			v    []float64
		}{{"logits", bd.Logits}, {"means", bd.Means}, {"log_stds", bd.LogStds}} {
			if err := checkFiniteDoc(path+"."+f.name, f.v); err != nil {
				return nil, err
			}
		}
		return bd, nil
	case *ConditionalGaussianBase:
		c := b.c
		bd := &baseDoc{Type: baseConditional, Context: &c, Activation: b.net.act.String(), Hidden: b.Hidden()}
		for k := 1; k < len(b.net.sizes); k++ {
			w, bias, _ := b.net.layer(b.p, k)
			dd := &denseDoc{In: b.net.sizes[k-1], Out: b.net.sizes[k],
				Weights: append([]float64(nil), w...), Biases: append([]float64(nil), bias...)}
			p := fmt.Sprintf("%s.network[%d]", path, k-1)
			if err := checkFiniteDoc(p+".weights", dd.Weights); err != nil {
				return nil, err
			}
			if err := checkFiniteDoc(p+".biases", dd.Biases); err != nil {
				return nil, err
			}
			bd.Network = append(bd.Network, dd)
		}
		return bd, nil
	}
	return nil, formatErr(path, "base distribution %T is not in the format", b)
}

// baseFields lists the fields of a base section other than type, in the
// order FORMAT.md §2.1 gives them, with whether bd has each.
func baseFields(bd *baseDoc) []struct {
	name    string
	present bool
} {
	return []struct {
		name    string
		present bool
	}{
		{"mean", bd.Mean != nil}, {"log_std", bd.LogStd != nil},
		{"components", bd.Components != nil}, {"logits", bd.Logits != nil},
		{"means", bd.Means != nil}, {"log_stds", bd.LogStds != nil},
		{"context", bd.Context != nil}, {"activation", bd.Activation != ""},
		{"hidden", bd.Hidden != nil}, {"network", bd.Network != nil},
	}
}

// unmarshalBase reads the base section bd of a document of dimension dim
// and context dimension nc. It returns the standard normal for
// "std_normal", and otherwise validates every field: the type's fields all
// present and no other, sizes, finite numbers, K ≥ 1, the context.
func unmarshalBase(bd *baseDoc, dim, nc int) (Base, error) {
	const path = "base"
	var allowed []string
	switch bd.Type {
	case baseStdNormal:
	case baseDiagNormal:
		allowed = []string{"mean", "log_std"}
	case baseMixture:
		allowed = []string{"components", "logits", "means", "log_stds"}
	case baseConditional:
		allowed = []string{"context", "activation", "hidden", "network"}
	case "":
		return nil, formatErr(path+".type", "missing")
	default:
		return nil, formatErr(path+".type", "%q, want %q, %q, %q or %q", bd.Type, baseStdNormal, baseDiagNormal, baseMixture, baseConditional)
	}
	for _, f := range baseFields(bd) {
		if !f.present {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == f.name
		}
		if !ok {
			return nil, formatErr(path+"."+f.name, "not a field of a %q base", bd.Type)
		}
	}
	// values checks that the field name holds n finite numbers.
	values := func(name string, v []float64, n int, what string) error {
		if v == nil {
			return formatErr(path+"."+name, "missing")
		}
		if int64(len(v)) != int64(n) {
			return formatErr(path+"."+name, "%d values, want %s", len(v), what)
		}
		return checkFiniteDoc(path+"."+name, v)
	}
	switch bd.Type {
	case baseStdNormal:
		return &StdNormalBase{d: dim}, nil
	case baseDiagNormal:
		if err := values("mean", bd.Mean, dim, fmt.Sprint(dim)); err != nil {
			return nil, err
		}
		if err := values("log_std", bd.LogStd, dim, fmt.Sprint(dim)); err != nil {
			return nil, err
		}
		b, err := NewDiagGaussianBase(dim)
		if err != nil {
			return nil, formatErr(path, "%v", err)
		}
		copy(b.p[:dim], bd.Mean)
		copy(b.p[dim:], bd.LogStd)
		return b, nil
	case baseMixture:
		if bd.Components == nil {
			return nil, formatErr(path+".components", "missing")
		}
		k := *bd.Components
		if k < 1 || k > maxComponents {
			return nil, formatErr(path+".components", "%d is not in [1, %d]", k, maxComponents)
		}
		if err := checkSize("the base", mixtureSize(dim, k)); err != nil {
			return nil, formatErr(path+".components", "%v", err)
		}
		kd := k * dim
		if err := values("logits", bd.Logits, k, fmt.Sprintf("components = %d", k)); err != nil {
			return nil, err
		}
		if err := values("means", bd.Means, kd, fmt.Sprintf("components × dim = %d×%d = %d", k, dim, kd)); err != nil {
			return nil, err
		}
		if err := values("log_stds", bd.LogStds, kd, fmt.Sprintf("components × dim = %d×%d = %d", k, dim, kd)); err != nil {
			return nil, err
		}
		b := &MixtureBase{d: dim, k: k, p: make([]float64, k+2*kd)}
		copy(b.logits(), bd.Logits)
		copy(b.means(), bd.Means)
		copy(b.logStds(), bd.LogStds)
		return b, nil
	}
	// conditional_diag_normal
	switch {
	case bd.Context == nil:
		return nil, formatErr(path+".context", "missing: a %q base conditions on the document's context", bd.Type)
	case nc == 0:
		return nil, formatErr(path+".context", "%d, but the document has no context (no top-level \"context\" field)", *bd.Context)
	case *bd.Context != nc:
		return nil, formatErr(path+".context", "%d, the document's context is %d", *bd.Context, nc)
	}
	act, err := parseActivation(path+".activation", bd.Activation)
	if err != nil {
		return nil, err
	}
	if err := checkHidden(path+".hidden", bd.Hidden); err != nil {
		return nil, err
	}
	if err := checkSize("the base", condGaussianSize(dim, nc, bd.Hidden)); err != nil {
		return nil, formatErr(path+".hidden", "%v", err)
	}
	if bd.Network == nil {
		return nil, formatErr(path+".network", "missing")
	}
	for k, dd := range bd.Network {
		if dd != nil && dd.Mask != nil {
			return nil, formatErr(fmt.Sprintf("%s.network[%d].mask", path, k), "not a field of a base network's dense layer: only a MADE's dense layers have masks")
		}
	}
	sizes := append([]int{nc}, bd.Hidden...)
	sizes = append(sizes, 2*dim)
	p, err := denseParams(path, "network", bd.Network, sizes, fmt.Sprintf("C = %d", nc))
	if err != nil {
		return nil, err
	}
	b, err := NewConditionalGaussianBase(ConditionalGaussianBaseConfig{Dim: dim, ContextDim: nc, Hidden: bd.Hidden, Activation: act})
	if err != nil {
		return nil, formatErr(path, "%v", err)
	}
	if len(p) != len(b.p) {
		return nil, formatErr(path+".network", "%d parameters, want %d", len(p), len(b.p))
	}
	copy(b.p, p)
	return b, nil
}
