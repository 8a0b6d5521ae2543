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
		if c != 2+d.Context || (d.Name != "faithful" && n != 500) {
			t.Errorf("%s: %d×%d", d.Name, n, c)
		}
		if err := CheckFinite(x); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
		for j := 0; j < c; j++ {
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

// TestConditionalDatasets checks what the context of the conditional data
// sets says about their points: the moon of TwoMoonsGiven, the radius of
// RingGiven.
func TestConditionalDatasets(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	m := TwoMoonsGiven(4000, 0, rnd)
	moons := [2]int{}
	for i := 0; i < 4000; i++ {
		a, b, c := m.At(i, 0), m.At(i, 1), m.At(i, 2)
		switch c {
		case 0: // the upper half circle about the origin
			if math.Abs(math.Hypot(a, b)-1) > 1e-12 || b < 0 {
				t.Fatalf("row %d: (%v, %v) with moon 0 is not on the upper moon", i, a, b)
			}
		case 1: // the lower one about (1, ½)
			if math.Abs(math.Hypot(1-a, 0.5-b)-1) > 1e-12 || b > 0.5 {
				t.Fatalf("row %d: (%v, %v) with moon 1 is not on the lower moon", i, a, b)
			}
		default:
			t.Fatalf("row %d: moon %v", i, c)
		}
		moons[int(c)]++
	}
	if moons[0] < 1800 || moons[1] < 1800 {
		t.Errorf("moons drawn %v times, want about 2000 each", moons)
	}
	r := RingGiven(4000, rnd)
	for i := 0; i < 4000; i++ {
		rad := r.At(i, 2)
		if rad < 0.5 || rad > 2 {
			t.Fatalf("row %d: radius %v outside [0.5, 2]", i, rad)
		}
		// The noise is 0.05·r per coordinate: 6 deviations of the radius.
		if d := math.Abs(math.Hypot(r.At(i, 0), r.At(i, 1)) - rad); d > 6*0.05*rad*math.Sqrt2 {
			t.Fatalf("row %d: point at distance %v from the ring of radius %v", i, d, rad)
		}
	}
	for _, name := range []string{"moons-given", "ring-given"} {
		if d, ok := LookupDataset(name); !ok || d.Context != 1 {
			t.Errorf("%s: found %v, context %d", name, ok, d.Context)
		}
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
