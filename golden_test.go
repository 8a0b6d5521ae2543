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
	if len(files) < 21 {
		t.Fatalf("%d golden files: run go generate", len(files))
	}
	named := 0
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
				Names []string `json:"names"`
			}
			if err := json.Unmarshal(g.Model, &md); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Names(), md.Names) {
				t.Errorf("names %q, the model has %q", f.Names(), md.Names)
			}
			if md.Names != nil {
				named++
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

			var zi, xf mat.Dense
			ld := make([]float64, n)
			f.Inverse(&zi, x, ld)
			compareGolden(t, "z", zi.RawMatrix().Data, golden.Flat(g.Z))
			compareGolden(t, "inverse_logdet", ld, g.InverseLogDet)
			compareGolden(t, "logprob", f.LogProb(nil, x), g.LogProb)
			ld = make([]float64, len(g.Base))
			f.Forward(&xf, z, ld)
			compareGolden(t, "forward", xf.RawMatrix().Data, golden.Flat(g.Forward))
			compareGolden(t, "forward_logdet", ld, g.ForwardLogDet)
			// The documented equations: log p(x) = log N(z) + log|det ∂z/∂x|,
			// and the forward and inverse log-dets are each other's negatives
			// on a round trip.
			for i := 0; i < n; i++ {
				lp := StdNormalLogProb(g.Z[i]) + g.InverseLogDet[i]
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
				loss := NewMaxLikelihood(f, 1, 0).LossGrad(grad, x)
				checkGradDoc("nll", loss, g.NLL, g.NLLGrad)
			}
			if g.ReverseKL != nil || goldenCanForward(f) {
				if g.KLTarget != "banana" {
					t.Fatalf("reverse-KL target %q, want banana", g.KLTarget)
				}
				loss := NewReverseKL(f, golden.Banana, 1, 0).LossGrad(grad, z)
				checkGradDoc("reverse_kl", loss, g.ReverseKL, g.ReverseKLGrad)
			}
		})
	}
	if named < 2 {
		t.Errorf("%d golden models have names, want at least 2", named)
	}
}

// goldenCanInverse and goldenCanForward say whether every layer of f backpropagates
// through Inverse or Forward.
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
