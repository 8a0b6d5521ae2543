// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	_ "embed"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// The built-in data sets: the registry that LookupDataset and nflow's -data
// flag read, and the embedded real data. The generated toy densities are in
// datasets_toy.go.

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
// fixed ones ignore n and rnd and return all their rows). The last Context
// columns of a conditional data set's rows are the context c of the point
// before them, for a conditional flow of p(x | c); Context is 0 for the
// others.
type Dataset struct {
	Name, Description string
	Generate          func(n int, rnd *rand.Rand) *mat.Dense
	Context           int
}

var datasets = map[string]Dataset{
	"moons": {Name: "moons", Description: "two interleaving half circles, noise 0.1 (scikit-learn's make_moons)",
		Generate: func(n int, rnd *rand.Rand) *mat.Dense { return TwoMoons(n, 0.1, rnd) }},
	"8gaussians":   {Name: "8gaussians", Description: "eight Gaussians on a circle", Generate: EightGaussians},
	"checkerboard": {Name: "checkerboard", Description: "uniform on the black squares of a 4×4 checkerboard", Generate: Checkerboard},
	"pinwheel":     {Name: "pinwheel", Description: "five curved arms", Generate: Pinwheel},
	"spirals":      {Name: "spirals", Description: "two interleaved spirals", Generate: TwoSpirals},
	"moons-given": {Name: "moons-given", Description: "two moons, each point given its moon (0 upper, 1 lower) as the context",
		Generate: func(n int, rnd *rand.Rand) *mat.Dense { return TwoMoonsGiven(n, 0.1, rnd) }, Context: 1},
	"ring-given": {Name: "ring-given", Description: "a noisy ring given its radius, uniform on [0.5, 2], as the context",
		Generate: RingGiven, Context: 1},
	"faithful": {Name: "faithful", Description: "Old Faithful geyser: eruption and waiting times in minutes, 272 rows (R datasets, Härdle 1991; public domain)",
		Generate: func(int, *rand.Rand) *mat.Dense { return OldFaithful() }},
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
