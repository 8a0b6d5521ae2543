// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	_ "embed"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// The generated toy densities below follow the two-dimensional test
// problems of the FFJORD and neural spline flow papers.

// EightGaussians returns n points of a mixture of eight isotropic
// Gaussians of standard deviation 0.5/√2 whose means lie evenly on the
// circle of radius 4/√2 ≈ 2.83, starting at (2.83, 0).
func EightGaussians(n int, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		a := float64(rnd.IntN(8)) * math.Pi / 4
		cx, cy := 4*math.Cos(a), 4*math.Sin(a)
		x.Set(i, 0, (cx+0.5*rnd.NormFloat64())/math.Sqrt2)
		x.Set(i, 1, (cy+0.5*rnd.NormFloat64())/math.Sqrt2)
	}
	return x
}

// Checkerboard returns n points drawn uniformly from the black squares of a
// 4×4 checkerboard of side 8 centred at the origin.
func Checkerboard(n int, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		a := 4*rnd.Float64() - 2
		b := rnd.Float64() - 2*float64(rnd.IntN(2))
		b += math.Mod(math.Floor(a)+4, 2)
		x.Set(i, 0, 2*a)
		x.Set(i, 1, 2*b)
	}
	return x
}

// Pinwheel returns n points of a pinwheel of five arms: in arm k, a point
// (r, t) with r ~ N(1, 0.3²), t ~ N(0, 0.1²) is rotated by the angle
// 2πk/5 + exp(r)/4 and scaled by 2.
func Pinwheel(n int, rnd *rand.Rand) *mat.Dense {
	const arms, radial, tangential, rate = 5, 0.3, 0.1, 0.25
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		r := 1 + radial*rnd.NormFloat64()
		t := tangential * rnd.NormFloat64()
		a := 2*math.Pi*float64(i%arms)/arms + rate*math.Exp(r)
		s, c := math.Sincos(a)
		x.Set(i, 0, 2*(r*c-t*s))
		x.Set(i, 1, 2*(r*s+t*c))
	}
	return x
}

// TwoSpirals returns n points of two interleaved spirals: along each, the
// angle is u = 3π√U with U uniform, the point ±(−u cos u, u sin u) plus
// uniform jitter in [0, 0.5)², divided by 3, plus Gaussian noise of standard
// deviation 0.1.
func TwoSpirals(n int, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		u := math.Sqrt(rnd.Float64()) * 3 * math.Pi
		a := -math.Cos(u)*u + 0.5*rnd.Float64()
		b := math.Sin(u)*u + 0.5*rnd.Float64()
		if i%2 == 1 {
			a, b = -a, -b
		}
		x.Set(i, 0, a/3+0.1*rnd.NormFloat64())
		x.Set(i, 1, b/3+0.1*rnd.NormFloat64())
	}
	return x
}

// faithfulCSV is R's faithful data set (datasets package): 272 eruptions of
// the Old Faithful geyser in Yellowstone National Park, the eruption time
// and the waiting time to the next eruption, both in minutes. Source: W.
// Härdle, Smoothing Techniques with Implementation in S, Springer, 1991,
// p. 201; as distributed with R and copied from the test data of
// gonum.org/v1/gonum/stat. The measurements are facts in the public domain.
//
//go:embed data/faithful.csv
var faithfulCSV string

// OldFaithful returns the 272×2 Old Faithful geyser data: column 0 is the
// eruption time, column 1 the waiting time to the next eruption, both in
// minutes (R's datasets::faithful; Härdle 1991).
func OldFaithful() *mat.Dense {
	lines := strings.Split(strings.TrimSpace(faithfulCSV), "\n")[1:]
	x := mat.NewDense(len(lines), 2, nil)
	for i, l := range lines {
		f := strings.Split(strings.TrimSpace(l), ",")
		for j := 0; j < 2; j++ {
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil {
				panic(fmt.Sprintf("flow: OldFaithful: embedded data line %d: %v", i+2, err))
			}
			x.Set(i, j, v)
		}
	}
	return x
}

// Dataset is a built-in data set: Generate returns n points of it (the
// fixed ones ignore n and rnd and return all their rows).
type Dataset struct {
	Name, Description string
	Generate          func(n int, rnd *rand.Rand) *mat.Dense
}

var datasets = map[string]Dataset{
	"moons": {"moons", "two interleaving half circles, noise 0.1 (scikit-learn's make_moons)",
		func(n int, rnd *rand.Rand) *mat.Dense { return TwoMoons(n, 0.1, rnd) }},
	"8gaussians":   {"8gaussians", "eight Gaussians on a circle", EightGaussians},
	"checkerboard": {"checkerboard", "uniform on the black squares of a 4×4 checkerboard", Checkerboard},
	"pinwheel":     {"pinwheel", "five curved arms", Pinwheel},
	"spirals":      {"spirals", "two interleaved spirals", TwoSpirals},
	"faithful": {"faithful", "Old Faithful geyser: eruption and waiting times in minutes, 272 rows (R datasets, Härdle 1991; public domain)",
		func(int, *rand.Rand) *mat.Dense { return OldFaithful() }},
}

// Datasets returns the built-in data sets sorted by name.
func Datasets() []Dataset {
	var d []Dataset
	for _, v := range datasets {
		d = append(d, v)
	}
	sort.Slice(d, func(i, j int) bool { return d[i].Name < d[j].Name })
	return d
}

// LookupDataset returns the built-in data set of the given name.
func LookupDataset(name string) (Dataset, bool) {
	d, ok := datasets[name]
	return d, ok
}
