// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// resMADEForwardRef evaluates the residual MADE m on one row x (dimension
// order) with context c from its export layout alone (Weights, Biases,
// Mask), by the equations of the MADE documentation, and returns the
// output in the export layout. It also checks that every mask is the
// degree rule.
func resMADEForwardRef(t *testing.T, m *MADE, x, c []float64) []float64 {
	t.Helper()
	in := append(append([]float64(nil), x...), c...)
	deg := m.HiddenDegrees(0)
	inDeg := append(m.InputDegrees(), make([]int, m.c)...)
	L := m.NumLayers()
	lin := func(l int, v []float64) []float64 {
		w, b, mk := m.Weights(l), m.Biases(l), m.Mask(l)
		r, cols := w.Dims()
		out := make([]float64, r)
		for k := 0; k < r; k++ {
			s := b[k]
			for j := 0; j < cols; j++ {
				var want bool
				switch {
				case l == 0:
					want = deg[k] >= inDeg[j]
				case l == L-1:
					want = deg[j] < m.InputDegrees()[k%m.d]
				default:
					want = deg[k] >= deg[j]
				}
				if (mk.At(k, j) == 1) != want {
					t.Fatalf("layer %d: mask (%d, %d) is %v", l, k, j, mk.At(k, j))
				}
				s += w.At(k, j) * v[j]
			}
			out[k] = s
		}
		return out
	}
	act := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for i, a := range v {
			if m.act == Tanh {
				o[i] = math.Tanh(a)
			} else {
				o[i] = math.Max(a, 0)
			}
		}
		return o
	}
	h := lin(0, in)
	for j := 1; j <= m.blocks; j++ {
		v := act(lin(2*j-1, act(h)))
		t := lin(2*j, v)
		for i := range h {
			h[i] += t[i]
		}
	}
	return lin(L-1, act(h))
}

func TestResMADEForwardRef(t *testing.T) {
	for _, d := range []int{1, 3, 5} {
		for _, nc := range []int{0, 2} {
			for _, R := range []int{1, 3} {
				for _, act := range []Activation{ReLU, Tanh} {
					name := fmt.Sprintf("D=%d/C=%d/R=%d/%v", d, nc, R, act)
					m, err := NewMADE(MADEConfig{Dim: d, Hidden: []int{d + 3}, Activation: act, Order: RandomOrder, Degrees: RandomDegrees, Seed: 3, ContextDim: nc, ResidualBlocks: R})
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if m.NumLayers() != 2*R+2 || m.ResidualBlocks() != R || len(m.Hidden()) != 1 {
						t.Fatalf("%s: %d layers, %d blocks, hidden %v", name, m.NumLayers(), m.ResidualBlocks(), m.Hidden())
					}
					randomizeMADE(m, 0.5, 4)
					const n = 3
					x, c := randomRows(n, d, 5), randomRows(n, nc, 6)
					got := madeEvalC(m, x, c, n)
					for r := 0; r < n; r++ {
						want := resMADEForwardRef(t, m, x[r*d:(r+1)*d], c[r*nc:(r+1)*nc])
						for i, v := range want {
							if g := got[r*2*d+i]; math.Abs(g-v) > 1e-12*math.Max(1, math.Abs(v)) {
								t.Fatalf("%s: row %d output %d: %v, reference %v", name, r, i, g, v)
							}
						}
					}
				}
			}
		}
	}
}

// TestResMADEAutoregressive: the numerical Jacobian of a residual MADE's
// outputs is zero exactly where the order forbids a dependence (and with
// tanh non-zero everywhere else, the context included).
func TestResMADEAutoregressive(t *testing.T) {
	for _, d := range []int{1, 2, 3, 5, 7} {
		for _, nc := range []int{0, 2} {
			w := max(d-1, 1)
			if nc > 0 {
				w = d
			}
			for _, h := range []int{w, 2*d + 1} {
				for _, R := range []int{1, 2} {
					for _, oc := range madeOrders(d) {
						for _, deg := range []DegreeKind{SequentialDegrees, RandomDegrees} {
							for _, act := range []Activation{Tanh, ReLU} {
								cfg := oc
								cfg.Dim, cfg.Hidden, cfg.Degrees, cfg.Activation = d, []int{h}, deg, act
								cfg.ContextDim, cfg.ResidualBlocks = nc, R
								cfg.Seed += 1000
								name := fmt.Sprintf("D=%d/C=%d/H=%d/R=%d/%v/%v/%v", d, nc, h, R, cfg.Order, deg, act)
								m, err := NewMADE(cfg)
								if err != nil {
									t.Fatalf("%s: %v", name, err)
								}
								randomizeMADE(m, 0.7, uint64(d))
								checkAutoregressive(t, name, m, act == Tanh)
							}
						}
					}
				}
			}
		}
	}
}

// TestResMADEGradients checks the residual MADE's backward pass against
// finite differences of L = Σ c ⊙ MADE(x), for the parameters and the input
// (the context included), and that masked weights get no gradient.
func TestResMADEGradients(t *testing.T) {
	for _, d := range []int{1, 3, 5} {
		for _, nc := range []int{0, 2} {
			for _, R := range []int{1, 2} {
				for _, act := range []Activation{ReLU, Tanh} {
					name := fmt.Sprintf("D=%d/C=%d/R=%d/%v", d, nc, R, act)
					m, err := NewMADE(MADEConfig{Dim: d, Hidden: []int{d + 2}, Activation: act, Order: RandomOrder, Degrees: RandomDegrees, Seed: 4, ContextDim: nc, ResidualBlocks: R})
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					randomizeMADE(m, 0.6, 9)
					const n = 4
					x := randomRows(n, d+nc, 12)
					c := randomRows(n, 2*d, 13)
					loss := func() float64 {
						work := make([]float64, m.workLen(n))
						o := m.forward(x, n, work)
						s := 0.0
						for i, v := range o {
							s += c[i] * v
						}
						return s
					}
					work := make([]float64, m.workLen(n))
					m.forward(x, n, work)
					grad := make([]float64, m.NumParams())
					dx := make([]float64, n*(d+nc))
					m.backward(x, n, work, c, grad, dx)
					checkVec(t, name+"/params", grad, fdGrad(m.params, loss))
					if d > 1 || nc > 0 {
						numX := fdGrad(x, loss)
						if act == ReLU && maxAbsDiff(numX, make([]float64, len(numX))) == 0 {
							if maxAbsDiff(dx, numX) != 0 {
								t.Errorf("%s: input gradient %v, finite difference zero", name, dx)
							}
						} else {
							checkVec(t, name+"/input", dx, numX)
						}
					}
					for l := 1; l <= m.NumLayers(); l++ {
						dw, _ := m.layer(grad, l)
						in := m.sizes[l-1]
						for k, lk := range m.lims[l-1] {
							for j := lk; j < in; j++ {
								if dw[k*in+j] != 0 {
									t.Fatalf("%s: masked weight (%d, %d) of layer %d has gradient %g", name, k, j, l, dw[k*in+j])
								}
							}
						}
					}
				}
			}
		}
	}
}

// resARFlow is arFlow with residual MADEs of R blocks of width h.
func resARFlow(t *testing.T, iaf bool, d, nc, h, R int, act Activation, clamp float64, sp *RQSpline, scale float64, seed uint64) *Flow {
	t.Helper()
	return arFlowOf(t, iaf, AutoregressiveConfig{Dim: d, ContextDim: nc, Hidden: []int{h}, ResidualBlocks: R, Activation: act, Clamp: clamp, Spline: sp, Seed: seed}, scale)
}

// TestResMADEFlowGradients: maximum likelihood through MAF layers, reverse
// KL through IAF layers and the other objective through the inverted
// layers, every parameter against finite differences; affine (with and
// without a clamp) and spline layers, with and without a context (whose
// gradient, and the data's, are checked too).
func TestResMADEFlowGradients(t *testing.T) {
	sp := mustSpline(t, 4, 2)
	for _, d := range []int{1, 2, 4} {
		for _, nc := range []int{0, 2} {
			for _, v := range []struct {
				act   Activation
				clamp float64
				sp    *RQSpline
			}{{ReLU, 0, nil}, {Tanh, 1.5, nil}, {Tanh, 0, &sp}, {ReLU, 0, &sp}} {
				name := fmt.Sprintf("D=%d/C=%d/%v/clamp=%v/spline=%v", d, nc, v.act, v.clamp, v.sp != nil)
				for _, iaf := range []bool{false, true} {
					f := resARFlow(t, iaf, d, nc, d+3, 2, v.act, v.clamp, v.sp, 0.4, 3)
					kind := "maf"
					if iaf {
						kind = "iaf"
					}
					check := checkFlowGrads
					if nc > 0 {
						check = checkFlowGradsC
					}
					check(t, kind+"/"+name, f, !iaf, iaf)
					// New binds the layers' parameters to the inverted
					// flow's vector: after f's check.
					inv, err := New(Invert(f.layers[2]), Invert(f.layers[1]), Invert(f.layers[0]))
					if err != nil {
						t.Fatal(err)
					}
					check(t, "inverted-"+kind+"/"+name, inv, iaf, !iaf)
				}
			}
		}
	}
}

func TestResMADELogDet(t *testing.T) {
	sp := mustSpline(t, 4, 2)
	for _, d := range []int{1, 2, 3, 6} {
		for _, s := range []*RQSpline{nil, &sp} {
			for _, iaf := range []bool{false, true} {
				f := resARFlow(t, iaf, d, 0, d+2, 2, Tanh, 0, s, 0.4, 5)
				for i, l := range f.Layers() {
					checkLayerLogDets(t, fmt.Sprintf("D=%d/spline=%v/iaf=%v/layer %d", d, s != nil, iaf, i), l, randomRows(3, d, 9), 1e-7)
				}
			}
		}
	}
}

func TestResMADERoundTrip(t *testing.T) {
	sp := mustSpline(t, 5, 3)
	for d := 1; d <= 9; d++ {
		for _, iaf := range []bool{false, true} {
			f := resARFlow(t, iaf, d, 0, 16, 2, ReLU, 0, nil, 0.15, uint64(d))
			roundTrip(t, fmt.Sprintf("iaf=%v/D=%d/affine", iaf, d), f, 70, 1e-12)
			g := resARFlow(t, iaf, d, 0, 16, 2, Tanh, 0, &sp, 0.15, uint64(d))
			roundTrip(t, fmt.Sprintf("iaf=%v/D=%d/spline", iaf, d), g, 70, 1e-10)
		}
	}
}

// TestResMADESequential: the sequential direction of a residual MADE layer
// gives bit for bit what D full passes give, from a workspace of NaN.
func TestResMADESequential(t *testing.T) {
	sp := RQSpline{Bins: 5, Bound: 2.5, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	for _, d := range []int{1, 2, 5, 9} {
		for _, h := range []int{d, 2*d + 3} {
			for _, R := range []int{1, 3} {
				for _, nc := range []int{0, 2} {
					for _, s := range []*RQSpline{nil, &sp} {
						for _, fwd := range []bool{true, false} {
							name := fmt.Sprintf("D=%d/H=%d/R=%d/C=%d/spline=%v/fwd=%v", d, h, R, nc, s != nil, fwd)
							clamp := 2.0
							if s != nil {
								clamp = 0
							}
							m, err := newARMADE("test", AutoregressiveConfig{Dim: d, Hidden: []int{h}, ResidualBlocks: R, Activation: ReLU, Order: RandomOrder, Degrees: RandomDegrees, Seed: 5, ContextDim: nc, Spline: s, Clamp: clamp})
							if err != nil {
								t.Fatal(err)
							}
							a := &arLayer{made: m, clamp: clamp, spline: s}
							randomizeMADE(m, 0.3, 6)
							checkIncremental(t, name, a, 7, d, nc, fwd)
						}
					}
				}
			}
		}
	}
}

// TestResMADEStart: a new residual MAF or IAF flow is the identity, and
// the blocks' weights are drawn (only the output layer is zero).
func TestResMADEStart(t *testing.T) {
	for _, iaf := range []bool{false, true} {
		cfg := AutoregressiveFlowConfig{Dim: 4, Layers: 2, Hidden: []int{8}, ResidualBlocks: 2, Activation: Tanh, Seed: 3}
		f, err := NewMAFFlow(cfg)
		if iaf {
			f, err = NewIAFFlow(cfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		z := mat.NewDense(3, 4, randomRows(3, 4, 1))
		var x mat.Dense
		ld := make([]float64, 3)
		f.Forward(&x, z, ld)
		if !mat.Equal(&x, z) || maxAbsDiff(ld, make([]float64, 3)) != 0 {
			t.Errorf("iaf=%v: a new flow is not the identity", iaf)
		}
		m := arOf(f.Layers()[0]).MADE()
		for l := 0; l < m.NumLayers(); l++ {
			zero := mat.Equal(m.Weights(l), mat.NewDense(m.sizes[l+1], m.sizes[l], nil))
			if zero != (l == m.NumLayers()-1) {
				t.Errorf("iaf=%v: layer %d: all zero %v", iaf, l, zero)
			}
		}
	}
}

// TestResMADEDeterminism: training residual MAF (maximum likelihood) and IAF
// (reverse KL) flows, affine and spline, gives the same bits for 1, 2, 3
// and 8 goroutines.
func TestResMADEDeterminism(t *testing.T) {
	sp := mustSpline(t, 6, 3)
	for _, s := range []*RQSpline{nil, &sp} {
		cfg := AutoregressiveFlowConfig{Dim: 3, Layers: 3, Hidden: []int{16}, ResidualBlocks: 2, Activation: Tanh, Seed: 1, Spline: s}
		mf, err := NewMAFFlow(cfg)
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(mf, 0.2, 3)
		checkDeterminism(t, fmt.Sprintf("res-maf/spline=%v/ml", s != nil), mf, false, 1, 2, 3, 8)
		nf, err := NewIAFFlow(cfg)
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(nf, 0.2, 3)
		checkDeterminism(t, fmt.Sprintf("res-iaf/spline=%v/kl", s != nil), nf, true, 1, 2, 3, 8)
	}
}

func TestResMADEAllocs(t *testing.T) {
	checkARAllocs(t, AutoregressiveFlowConfig{Dim: 5, Layers: 2, Hidden: []int{8}, ResidualBlocks: 2, Activation: ReLU, Clamp: 2})
	sp := mustSpline(t, 8, 3)
	checkARAllocs(t, AutoregressiveFlowConfig{Dim: 5, Layers: 2, Hidden: []int{8}, ResidualBlocks: 2, Activation: ReLU, Spline: &sp})
}

// TestResMADEBadConfig: residual blocks need one hidden width and at most
// 64 blocks; the footprint counts the blocks.
func TestResMADEBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  MADEConfig
		want string
	}{
		{MADEConfig{Dim: 3, Hidden: []int{4, 4}, ResidualBlocks: 1}, "exactly one hidden width"},
		{MADEConfig{Dim: 3, Hidden: nil, ResidualBlocks: 1}, "exactly one hidden width"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, ResidualBlocks: -1}, "< 0"},
		{MADEConfig{Dim: 3, Hidden: []int{4}, ResidualBlocks: 65}, "limit of 64"},
		{MADEConfig{Dim: 3, Hidden: []int{1}, ResidualBlocks: 1}, "fewer than D−1"},
		{MADEConfig{Dim: 3, Hidden: []int{2}, ContextDim: 1, ResidualBlocks: 1}, "fewer than D"},
		{MADEConfig{Dim: 3, Hidden: []int{1 << 14}, ResidualBlocks: 64}, "limit"},
	} {
		_, err := NewMADE(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := NewMAFFlow(AutoregressiveFlowConfig{Dim: 3, Layers: 2, Hidden: []int{4, 4}, ResidualBlocks: 2}); err == nil || !strings.Contains(err.Error(), "exactly one hidden width") {
		t.Errorf("NewMAFFlow: error %v", err)
	}
	// Explicit degrees: one list, for the one width.
	m, err := NewMADE(MADEConfig{Dim: 4, Hidden: []int{4}, ResidualBlocks: 2, Activation: Tanh, Degrees: ExplicitDegrees, HiddenDegrees: [][]int{{1, 1, 3, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	randomizeMADE(m, 0.7, 2)
	checkAutoregressive(t, "explicit", m, false)
}

// TestResMADESize: the footprint the constructors check is the layer's,
// affine and spline, with and without a context.
func TestResMADESize(t *testing.T) {
	sp, _ := NewRQSpline(5, 3)
	for _, nc := range []int{0, 3} {
		for _, R := range []int{1, 3} {
			for _, s := range []*RQSpline{nil, &sp} {
				m, err := NewMAF(AutoregressiveConfig{Dim: 4, Hidden: []int{9}, ResidualBlocks: R, ContextDim: nc, Spline: s})
				if err != nil {
					t.Fatal(err)
				}
				f := arLayerSize(4, nc, []int{9}, R, s)
				if f.params != float64(m.NumParams()) || f.work != float64(m.WorkLen(evalShard)) {
					t.Errorf("C=%d R=%d spline=%v: computed footprint %+v, the layer has %d parameters and a workspace of %d", nc, R, s != nil, f, m.NumParams(), m.WorkLen(evalShard))
				}
				if s == nil {
					f = madeBlocksSize(4, nc, []int{9}, R, false)
					if f.params != float64(m.made.NumParams()) || f.work != float64(m.made.workLen(evalShard)) {
						t.Errorf("C=%d R=%d: MADE footprint %+v, the MADE has %d parameters and a workspace of %d", nc, R, f, m.made.NumParams(), m.made.workLen(evalShard))
					}
				}
			}
		}
	}
}
