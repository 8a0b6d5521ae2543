// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow/internal/golden"
)

// TestFormatDoc checks FORMAT.md against the code: its worked examples read
// and give the log-densities computed by hand there, and it names every
// field of the format and of the golden vectors.
func TestFormatDoc(t *testing.T) {
	b, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	ex := doc[strings.Index(doc, "## 8. A complete example"):]
	ex = ex[strings.Index(ex, "```json\n")+len("```json\n"):]
	ex = ex[:strings.Index(ex, "```")]
	f, err := UnmarshalFlow([]byte(ex))
	if err != nil {
		t.Fatalf("the example does not read: %v", err)
	}
	if got, want := f.Names(), []string{"speed", "angle"}; !reflect.DeepEqual(got, want) {
		t.Errorf("the example's names read as %q, want %q", got, want)
	}
	s, tt := 0.5*math.Tanh(1), math.Tanh(-0.5)
	z0, z1 := 1.0, (0.5-tt)*math.Exp(-s)
	want := -0.5*(z0*z0+z1*z1) - math.Log(2*math.Pi) - s
	got := f.LogProb(nil, mat.NewDense(1, 2, []float64{0.5, 1}))[0]
	if math.Abs(got-want) > 1e-14 {
		t.Errorf("the example's log p(x) is %v, FORMAT.md's formula gives %v", got, want)
	}
	// The conditional example of §8.1.
	cex := doc[strings.Index(doc, "### 8.1 A conditional flow"):]
	cex = cex[strings.Index(cex, "```json\n")+len("```json\n"):]
	cex = cex[:strings.Index(cex, "```")]
	cf, err := UnmarshalFlow([]byte(cex))
	if err != nil {
		t.Fatalf("the conditional example does not read: %v", err)
	}
	if cf.ContextDim() != 1 || !reflect.DeepEqual(cf.ContextNames(), []string{"load"}) {
		t.Errorf("the conditional example has context dimension %d and names %q, want 1 and [load]", cf.ContextDim(), cf.ContextNames())
	}
	s, tt = 2.5, -1.75
	z0, z1 = 1, (0.5-tt)*math.Exp(-s)
	want = -0.5*(z0*z0+z1*z1) - math.Log(2*math.Pi) - s
	got = cf.LogProbGiven(nil, mat.NewDense(1, 2, []float64{0.5, 1}), mat.NewDense(1, 1, []float64{2}))[0]
	if math.Abs(got-want) > 1e-14 {
		t.Errorf("the conditional example's log p(x | c) is %v, FORMAT.md's formula gives %v", got, want)
	}
	for _, typ := range []any{modelDoc{}, baseDoc{}, layerDoc{}, denseDoc{}} {
		rt := reflect.TypeOf(typ)
		for i := 0; i < rt.NumField(); i++ {
			name := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
			if !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("FORMAT.md does not name the field %q", name)
			}
		}
	}
	// Every field of a golden file has a row in the table of §7.
	gold := doc[strings.Index(doc, "## 7. Golden vectors"):strings.Index(doc, "## 8. A complete example")]
	rt := reflect.TypeOf(golden.File{})
	for i := 0; i < rt.NumField(); i++ {
		name := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
		if !strings.Contains(gold, "\n| `"+name+"`") && !strings.Contains(gold, ", `"+name+"` |") {
			t.Errorf("FORMAT.md §7 has no row for the golden field %q", name)
		}
	}
	for _, target := range []string{`"banana"`, `"banana-shift"`} {
		if !strings.Contains(gold, target) {
			t.Errorf("FORMAT.md §7 does not name the target %s", target)
		}
	}
	for _, typ := range []string{"coupling", "maf", "iaf", "lu_linear", "actnorm", "batch_norm", "permutation", "standardize", "inverse", "affine", "additive", "relu", "tanh", "std_normal"} {
		if !strings.Contains(doc, `"`+typ+`"`) && !strings.Contains(doc, "`"+typ+"`") {
			t.Errorf("FORMAT.md does not name %q", typ)
		}
	}
}
