// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow/internal/golden"
)

// compareGolden reports the first entry of got that differs from want by
// more than the golden vectors' tolerance (golden.Compare).
func compareGolden(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if err := golden.Compare(got, want); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 27 {
		t.Fatalf("%d golden files: run go generate", len(files))
	}
	named, conditional, cnamed := 0, 0, 0
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			var g golden.File
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			f, err := UnmarshalFlow(g.Model)
			if err != nil {
				t.Fatal(err)
			}
			// The model reads back as written, the optional names
			// included.
			var md struct {
				Names        []string `json:"names"`
				Context      int      `json:"context"`
				ContextNames []string `json:"context_names"`
			}
			if err := json.Unmarshal(g.Model, &md); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Names(), md.Names) {
				t.Errorf("names %q, the model has %q", f.Names(), md.Names)
			}
			if !reflect.DeepEqual(f.ContextNames(), md.ContextNames) {
				t.Errorf("context names %q, the model has %q", f.ContextNames(), md.ContextNames)
			}
			if md.Names != nil {
				named++
			}
			if md.ContextNames != nil {
				cnamed++
			}
			// The contexts: one row of C for each row of x and of base,
			// exactly when the model has a context.
			nc := f.ContextDim()
			if nc != md.Context {
				t.Fatalf("context dimension %d, the model has %d", nc, md.Context)
			}
			if nc > 0 {
				conditional++
				if len(g.Context) != len(g.X) || len(g.Context) != len(g.Base) {
					t.Fatalf("%d context rows for %d rows of x and %d of base", len(g.Context), len(g.X), len(g.Base))
				}
				for i, r := range g.Context {
					if len(r) != nc {
						t.Fatalf("context row %d has %d values, want %d", i, len(r), nc)
					}
				}
			} else if g.Context != nil || g.NLLContextGrad != nil {
				t.Fatal("contexts for a model without a context")
			}
			mb, err := MarshalFlow(f)
			if err != nil {
				t.Fatal(err)
			}
			var m1, m2 bytes.Buffer
			if err := json.Compact(&m1, mb); err != nil {
				t.Fatal(err)
			}
			if err := json.Compact(&m2, g.Model); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m1.Bytes(), m2.Bytes()) {
				t.Errorf("MarshalFlow of the model read differs from the model:\n%s\nwant\n%s", m1.Bytes(), m2.Bytes())
			}
			n, d := len(g.X), f.Dim()
			x := mat.NewDense(n, d, golden.Flat(g.X))
			z := mat.NewDense(len(g.Base), d, golden.Flat(g.Base))
			var c mat.Matrix // the contexts; nil without
			if nc > 0 {
				c = mat.NewDense(n, nc, golden.Flat(g.Context))
			}

			// The …Given methods are the plain ones when c is nil (C = 0).
			var zi, xf mat.Dense
			ld := make([]float64, n)
			f.InverseGiven(&zi, x, c, ld)
			compareGolden(t, "z", zi.RawMatrix().Data, golden.Flat(g.Z))
			compareGolden(t, "inverse_logdet", ld, g.InverseLogDet)
			compareGolden(t, "logprob", f.LogProbGiven(nil, x, c), g.LogProb)
			ld = make([]float64, len(g.Base))
			f.ForwardGiven(&xf, z, c, ld)
			compareGolden(t, "forward", xf.RawMatrix().Data, golden.Flat(g.Forward))
			compareGolden(t, "forward_logdet", ld, g.ForwardLogDet)
			// The documented equations: log p(x) = log p_base(z) +
			// log|det ∂z/∂x|, log N(z; 0, I) for the standard normal.
			lb := make([]float64, n)
			if _, std := f.base.(*StdNormalBase); std {
				for i := range lb {
					lb[i] = StdNormalLogProb(g.Z[i])
				}
			} else {
				f.base.logProbRows(lb, golden.Flat(g.Z), golden.Flat(g.Context), make([]float64, n), make([]float64, f.base.workLen(n)))
			}
			for i := 0; i < n; i++ {
				lp := lb[i] + g.InverseLogDet[i]
				if math.Abs(lp-g.LogProb[i]) > 1e-12*math.Max(1, math.Abs(lp)) {
					t.Errorf("row %d: log N(z) + logdet = %v, logprob %v", i, lp, g.LogProb[i])
				}
			}

			grad := make([]float64, f.NumParams())
			checkGradDoc := func(what string, loss float64, want *float64, doc json.RawMessage) {
				if want == nil || doc == nil {
					t.Errorf("%s: missing", what)
					return
				}
				compareGolden(t, what, []float64{loss}, []float64{*want})
				gf, err := UnmarshalFlow(doc)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				compareGolden(t, what+"_grad", grad, gf.Params())
			}
			if g.NLL != nil || goldenCanInverse(f) {
				loss := NewMaxLikelihood(f, 1, 0).LossGradGiven(grad, x, c)
				checkGradDoc("nll", loss, g.NLL, g.NLLGrad)
				if nc > 0 {
					// ∂nll/∂c_i = −(1/n) ∂ log p(x_i | c_i)/∂c_i.
					if g.NLLContextGrad == nil {
						t.Fatal("nll_context_grad: missing")
					}
					var dx, dc mat.Dense
					f.GradLogProb(&dx, &dc, nil, x, c)
					dc.Scale(-1/float64(n), &dc)
					compareGolden(t, "nll_context_grad", dc.RawMatrix().Data, golden.Flat(g.NLLContextGrad))
					// And, independently of the backward pass, against
					// central differences of nll in each context entry.
					cd := mat.DenseCopyOf(c)
					nllAt := func() float64 {
						lp := f.LogProbGiven(nil, x, cd)
						s := 0.0
						for _, v := range lp {
							s -= v
						}
						return s / float64(n)
					}
					want := golden.Flat(g.NLLContextGrad)
					scale := 0.0
					for _, v := range want {
						scale = math.Max(scale, math.Abs(v))
					}
					for i, v := range cd.RawMatrix().Data {
						const h = 1e-5
						cd.RawMatrix().Data[i] = v + h
						up := nllAt()
						cd.RawMatrix().Data[i] = v - h
						down := nllAt()
						cd.RawMatrix().Data[i] = v
						fd := (up - down) / (2 * h)
						if math.Abs(fd-want[i]) > fdTol*math.Max(math.Abs(want[i]), 1e-3*scale) {
							t.Errorf("nll_context_grad[%d] = %v, central difference %v", i, want[i], fd)
						}
					}
				}
			} else if g.NLLContextGrad != nil {
				t.Error("nll_context_grad without nll")
			}
			if g.ReverseKL != nil || goldenCanForward(f) {
				var loss float64
				switch {
				case nc == 0 && g.KLTarget == "banana":
					loss = NewReverseKL(f, golden.Banana, 1, 0).LossGrad(grad, z)
				case nc > 0 && g.KLTarget == "banana-shift":
					loss = NewReverseKLGiven(f, golden.BananaShift, 1, 0).LossGradGiven(grad, z, c)
				default:
					t.Fatalf("reverse-KL target %q for a model of context dimension %d, want banana (C = 0) or banana-shift (C > 0)", g.KLTarget, nc)
				}
				checkGradDoc("reverse_kl", loss, g.ReverseKL, g.ReverseKLGrad)
			}
		})
	}
	if named < 3 {
		t.Errorf("%d golden models have names, want at least 3", named)
	}
	if conditional < 6 || cnamed < 1 {
		t.Errorf("%d golden models have a context, %d with context names, want at least 6 and 1", conditional, cnamed)
	}
}

// TestGoldenRewrite checks that every golden file reads and writes back
// byte for byte: its model and gradient documents decoded by UnmarshalFlow
// and written by MarshalFlow, and the file by golden.Marshal. A model
// without a context is written exactly as before contexts existed.
func TestGoldenRewrite(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 27 {
		t.Fatalf("%d golden files: run go generate", len(files))
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var g golden.File
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		for _, doc := range []*json.RawMessage{&g.Model, &g.NLLGrad, &g.ReverseKLGrad} {
			if *doc == nil {
				continue
			}
			f, err := UnmarshalFlow(*doc)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if *doc, err = MarshalFlow(f); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		out, err := golden.Marshal(&g)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b) {
			t.Errorf("%s does not read and write back byte for byte", name)
		}
	}
}

// goldenCanInverse and goldenCanForward say whether every layer of f backpropagates
// through Inverse or Forward (and goldenCanForward whether f's base has a
// reparameterised draw).
func goldenCanInverse(f *Flow) bool {
	for _, l := range f.Layers() {
		if _, ok := l.(InverseGrader); !ok {
			return false
		}
		if v, ok := l.(*Inverted); ok {
			if _, ok := v.L.(ForwardGrader); !ok {
				return false
			}
		}
	}
	return true
}

func goldenCanForward(f *Flow) bool {
	if f.base.reparamErr() != nil {
		return false
	}
	for _, l := range f.Layers() {
		if _, ok := l.(ForwardGrader); !ok {
			return false
		}
		if v, ok := l.(*Inverted); ok {
			if _, ok := v.L.(InverseGrader); !ok {
				return false
			}
		}
	}
	return true
}
