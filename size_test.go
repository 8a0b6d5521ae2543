// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"strings"
	"testing"
)

// hugeLayer is a layer that claims more parameters or workspace than it
// has.
type hugeLayer struct {
	*Permutation
	params, work int
}

func (h hugeLayer) NumParams() int  { return h.params }
func (h hugeLayer) WorkLen(int) int { return h.work }

// TestConstructorSizes checks that every constructor refuses widths,
// dimensions and layer counts whose sizes overflow int or exceed the limits
// with an error that says how much they would need, rather than panicking
// inside a slice expression or dying of a fatal out-of-memory.
func TestConstructorSizes(t *testing.T) {
	perm, err := NewReverse(2)
	if err != nil {
		t.Fatal(err)
	}
	const (
		need  = "would need"
		limit = "more than the limit"
	)
	for _, c := range []struct {
		name string
		f    func() error
		want []string
	}{
		{"RealNVP Hidden 1<<62", func() error {
			_, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{1 << 62}})
			return err
		}, []string{"NewRealNVP", need, "parameters", "EiB", "2 GiB"}},
		{"RealNVP Hidden 1<<40", func() error {
			_, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{1 << 40}})
			return err
		}, []string{"NewRealNVP", need, "TiB"}},
		{"RealNVP Hidden product overflows", func() error {
			_, err := NewRealNVP(RealNVPConfig{Dim: 4, Layers: 2, Hidden: []int{1 << 32, 1 << 32}})
			return err
		}, []string{"NewRealNVP", need, "parameters"}},
		{"RealNVP workspace", func() error {
			_, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{1 << 21}})
			return err
		}, []string{"NewRealNVP", need, "workspace", "GiB"}},
		{"RealNVP Dim 1<<40", func() error {
			_, err := NewRealNVP(RealNVPConfig{Dim: 1 << 40, Layers: 2})
			return err
		}, []string{"NewRealNVP", "dimension 1099511627776", limit}},
		{"RealNVP Layers 1<<40", func() error {
			_, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 1 << 40, Hidden: []int{8}})
			return err
		}, []string{"NewRealNVP", "1099511627776 layers", need}},
		{"RealNVP Layers max int", func() error {
			_, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: int(^uint(0) >> 1)})
			return err
		}, []string{"NewRealNVP", "layers", need}},
		{"Coupling Hidden 1<<62", func() error {
			_, err := NewCoupling(CouplingConfig{Mask: []bool{true, false}, Hidden: []int{1 << 62}})
			return err
		}, []string{"NewCoupling", need}},
		{"Coupling Hidden 1<<40", func() error {
			_, err := NewCoupling(CouplingConfig{Mask: []bool{true, false}, Hidden: []int{8, 1 << 40, 8}})
			return err
		}, []string{"NewCoupling", need}},
		{"MADE Hidden 1<<62", func() error {
			_, err := NewMADE(MADEConfig{Dim: 3, Hidden: []int{1 << 62}})
			return err
		}, []string{"NewMADE", need}},
		{"MADE Dim 1<<40", func() error {
			_, err := NewMADE(MADEConfig{Dim: 1 << 40})
			return err
		}, []string{"NewMADE", limit}},
		{"MADE Dim 1<<20", func() error {
			_, err := NewMADE(MADEConfig{Dim: 1 << 20}) // 2^41 parameters
			return err
		}, []string{"NewMADE", need, "parameters"}},
		{"MAF Hidden product overflows", func() error {
			_, err := NewMAF(AutoregressiveConfig{Dim: 3, Hidden: []int{1 << 33, 1 << 33}})
			return err
		}, []string{"NewMAF", need}},
		{"IAF Hidden 1<<40", func() error {
			_, err := NewIAF(AutoregressiveConfig{Dim: 3, Hidden: []int{1 << 40}})
			return err
		}, []string{"NewIAF", need}},
		{"MAFFlow Hidden 1<<62", func() error {
			_, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 2, Hidden: []int{1 << 62}})
			return err
		}, []string{"NewMAFFlow", need}},
		{"MAFFlow Dim 1<<40", func() error {
			_, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 1 << 40, Layers: 2})
			return err
		}, []string{"NewMAFFlow", limit}},
		{"MAFFlow Layers 1<<40", func() error {
			_, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 1 << 40, Hidden: []int{4}})
			return err
		}, []string{"NewMAFFlow", "1099511627776 layers", need}},
		{"IAFFlow Layers 1<<40", func() error {
			_, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 2, Layers: 1 << 40})
			return err
		}, []string{"NewIAFFlow", "1099511627776 layers", need}},
		{"IAFFlow Hidden product overflows", func() error {
			_, err := NewIAFFlow(AutoregressiveFlowConfig{Dim: 5, Layers: 3, Hidden: []int{1 << 31, 1 << 31, 1 << 31}})
			return err
		}, []string{"NewIAFFlow", need}},
		{"Reverse 1<<40", func() error {
			_, err := NewReverse(1 << 40)
			return err
		}, []string{"NewReverse", limit}},
		{"RandomPermutation 1<<40", func() error {
			_, err := NewRandomPermutation(1<<40, 1)
			return err
		}, []string{"NewRandomPermutation", limit}},
		{"New, a layer with 1<<40 parameters", func() error {
			_, err := New(perm, hugeLayer{perm, 1 << 40, 0})
			return err
		}, []string{"flow: New", need, "parameters"}},
		{"New, parameters that overflow", func() error {
			h := hugeLayer{perm, 1 << 62, 0}
			_, err := New(h, h, h, h, h)
			return err
		}, []string{"flow: New", need, "parameters"}},
		{"New, a layer with a huge workspace", func() error {
			_, err := New(hugeLayer{perm, 0, 1 << 50})
			return err
		}, []string{"flow: New", need, "workspace"}},
		{"New, a layer with a negative workspace", func() error {
			_, err := New(hugeLayer{perm, 0, -1})
			return err
		}, []string{"flow: New", "workspace of -1"}},
	} {
		var err error
		if msg := catchPanic(func() { err = c.f() }); msg != "" {
			t.Errorf("%s: panic %s", c.name, msg)
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q, want it to say %q", c.name, err, w)
			}
		}
	}
	for _, fn := range []struct {
		name string
		f    func(int, bool) []bool
	}{{"HalfMask", HalfMask}, {"EvenOddMask", EvenOddMask}} {
		for _, d := range []int{-1, 1 << 40} {
			msg := catchPanic(func() { fn.f(d, false) })
			if want := fmt.Sprintf("flow: %s: dimension %d outside", fn.name, d); !strings.Contains(msg, want) {
				t.Errorf("%s(%d): panic %q, want %q", fn.name, d, msg, want)
			}
		}
	}
}

// TestConstructorSizesAccept checks that the limits leave room: sizes just
// under them build, and the footprint the checks compute is the one the
// layers have.
func TestConstructorSizesAccept(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 5, Layers: 3, Hidden: []int{7, 3}})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range f.Layers() {
		c := l.(*Coupling)
		s := couplingSize(len(c.ia), len(c.ib), c.h.ParamsPerDim(), c.Hidden())
		if s.params != float64(c.NumParams()) || s.work != float64(c.WorkLen(evalShard)) {
			t.Errorf("coupling layer %d: computed footprint %+v, the layer has %d parameters and a workspace of %d", i, s, c.NumParams(), c.WorkLen(evalShard))
		}
	}
	for _, hidden := range [][]int{nil, {4, 6}} {
		m, err := NewMAF(AutoregressiveConfig{Dim: 4, Hidden: hidden})
		if err != nil {
			t.Fatal(err)
		}
		s := madeSize(4, hidden, true)
		if s.params != float64(m.NumParams()) || s.work != float64(m.WorkLen(evalShard)) {
			t.Errorf("MAF with hidden %v: computed footprint %+v, the layer has %d parameters and a workspace of %d", hidden, s, m.NumParams(), m.WorkLen(evalShard))
		}
		s = madeSize(4, hidden, false)
		if s.params != float64(m.made.NumParams()) || s.work != float64(m.made.workLen(evalShard)) {
			t.Errorf("MADE with hidden %v: computed footprint %+v, the MADE has %d parameters and a workspace of %d", hidden, s, m.made.NumParams(), m.made.workLen(evalShard))
		}
	}
	// A width of 2^17 fits: 2^19 parameters, a workspace of 2^26.
	if _, err := NewRealNVP(RealNVPConfig{Dim: 2, Layers: 1, Hidden: []int{1 << 17}}); err != nil {
		t.Errorf("a coupling flow with a hidden width of 2^17: %v", err)
	}
}
