// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// csvColumn returns the values of the last column of a CSV with a header.
func csvColumn(t *testing.T, s string) []float64 {
	t.Helper()
	var v []float64
	for i, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(line, ",")
		x, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		v = append(v, x)
	}
	return v
}

// TestPrecisionF32 fits, evaluates and samples with -precision f32 (every
// model, over the standard normal, a diagonal Gaussian and a mixture base,
// with BatchNorm, and with residual conditioners trained with dropout,
// ActNorm and LU layers): the fitted model holds float32 values, its
// log-densities and samples agree with the float64 commands' to
// 1e-4·(|v| + 1), and an unknown precision is refused with a message.
func TestPrecisionF32(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 400, 3)
	for _, spec := range []string{"realnvp", "maf", "nsf", "nsf-ar", "realnvp -base diag", "maf -base mog -components 3",
		"realnvp -batchnorm", "realnvp -residual 1 -dropout 0.1 -actnorm -lu"} {
		args := strings.Fields(spec)
		model := strings.Join(args, "")
		out := model + ".json"
		r := nflow(t, dir, append([]string{"fit", "-in", "data.csv", "-out", out, "-model", args[0], "-epochs", "5", "-layers", "3", "-hidden", "16", "-precision", "f32"}, args[1:]...)...)
		if r.code != 0 || !strings.Contains(r.stderr, "parameters, in float32") {
			t.Fatalf("fit -model %s -precision f32: exit %d\n%s", spec, r.code, r.stderr)
		}
		f := loadFlow(t, filepath.Join(dir, out))
		for i, v := range f.Params() {
			if v != float64(float32(v)) {
				t.Fatalf("%s: parameter %d is %v, not a float32 value", model, i, v)
			}
		}
		lp := map[string][]float64{}
		lq := map[string][]float64{}
		for _, p := range []string{"f64", "f32"} {
			r := nflow(t, dir, "logprob", "-model", out, "-in", "data.csv", "-precision", p)
			if r.code != 0 {
				t.Fatalf("logprob -precision %s: exit %d\n%s", p, r.code, r.stderr)
			}
			lp[p] = csvColumn(t, r.stdout)
			r = nflow(t, dir, "sample", "-model", out, "-n", "300", "-logq", "-precision", p)
			if r.code != 0 {
				t.Fatalf("sample -precision %s: exit %d\n%s", p, r.code, r.stderr)
			}
			lq[p] = csvColumn(t, r.stdout)
		}
		for _, c := range []struct {
			name string
			v    map[string][]float64
		}{{"log p", lp}, {"log q of the samples", lq}} {
			a, b := c.v["f32"], c.v["f64"]
			if len(a) != len(b) || len(a) == 0 {
				t.Fatalf("%s: %s: %d values in f32, %d in f64", model, c.name, len(a), len(b))
			}
			for i := range a {
				// The CSV holds 6 significant digits or more.
				if math.Abs(a[i]-b[i]) > 1e-4*(math.Abs(b[i])+1) {
					t.Errorf("%s: %s row %d: f32 %v, f64 %v", model, c.name, i, a[i], b[i])
				}
			}
		}
	}
	r := nflow(t, dir, "logprob", "-model", "realnvp.json", "-in", "data.csv", "-precision", "f16")
	if r.code != 2 || !strings.Contains(r.stderr, `-precision: "f16", want f64 or f32`) {
		t.Errorf("logprob -precision f16: exit %d\n%s", r.code, r.stderr)
	}
}
