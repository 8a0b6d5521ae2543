// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat"
)

func TestDatasets(t *testing.T) {
	for _, d := range Datasets() {
		x := d.Generate(500, rand.New(rand.NewPCG(1, 2)))
		n, c := x.Dims()
		if c != 2 || (d.Name != "faithful" && n != 500) {
			t.Errorf("%s: %d×%d", d.Name, n, c)
		}
		if err := CheckFinite(x); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
		for j := 0; j < 2; j++ {
			col := make([]float64, n)
			for i := range col {
				col[i] = x.At(i, j)
			}
			if m, s := stat.MeanStdDev(col, nil); math.Abs(m) > 100 || !(s > 0.1) {
				t.Errorf("%s: column %d has mean %v and deviation %v", d.Name, j, m, s)
			}
		}
	}
	if _, ok := LookupDataset("nope"); ok {
		t.Error("found a data set that does not exist")
	}
}

// TestOldFaithful checks the embedded data against R's summary(faithful):
// means 3.487783 and 70.89706, ranges [1.6, 5.1] and [43, 96].
func TestOldFaithful(t *testing.T) {
	x := OldFaithful()
	n, _ := x.Dims()
	if n != 272 {
		t.Fatalf("%d rows, want 272", n)
	}
	want := [][3]float64{{3.487783, 1.6, 5.1}, {70.89706, 43, 96}}
	for j, w := range want {
		s, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			v := x.At(i, j)
			s += v
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if math.Abs(s/float64(n)-w[0]) > 5e-6 || lo != w[1] || hi != w[2] {
			t.Errorf("column %d: mean %v range [%v, %v], want %v [%v, %v]", j, s/float64(n), lo, hi, w[0], w[1], w[2])
		}
	}
	if x.At(0, 0) != 3.6 || x.At(0, 1) != 79 || x.At(271, 0) != 4.467 || x.At(271, 1) != 74 {
		t.Error("first or last row differs from R's")
	}
}
