// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Command gengolden writes the golden vectors of testdata/golden: small
// fixed models of every layer type with inputs, outputs, log-determinants,
// log-densities and the gradients of both objectives, and conditional models
// with their contexts. The package's TestGolden recomputes them. Run it
// through go generate in the package directory; FORMAT.md describes the
// files. A file that agrees with what the generator computes, to the golden
// tolerance (golden.Agree), is kept as it is, so that regenerating on
// another machine does not rewrite last digits.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
	"github.com/nfgo/flow/internal/golden"
)

// Case is a golden model.
type Case struct {
	Name, Description string
	Build             func() (*flow.Flow, error)
	// Prepare, if not nil, changes the random parameters before the model
	// is written, and Inputs the random inputs x and base draws z before
	// anything is computed from them: a case uses them to put inputs on
	// the knots of its splines and in their tails.
	Prepare func(f *flow.Flow)
	Inputs  func(x, z *mat.Dense)
}

func coupling(mask []bool, hidden []int, act flow.Activation, h flow.CouplingFunc) flow.Layer {
	c, err := flow.NewCoupling(flow.CouplingConfig{Mask: mask, Hidden: hidden, Activation: act, Func: h})
	if err != nil {
		panic(err)
	}
	return c
}

func perm(p ...int) flow.Layer {
	l, err := flow.NewPermutation(p)
	if err != nil {
		panic(err)
	}
	return l
}

func std(shift, scale []float64) flow.Layer {
	l, err := flow.NewStandardize(shift, scale)
	if err != nil {
		panic(err)
	}
	return l
}

func layers(ls ...flow.Layer) func() (*flow.Flow, error) {
	return func() (*flow.Flow, error) { return flow.New(ls...) }
}

// named gives the flow of build the column names.
func named(names []string, build func() (*flow.Flow, error)) func() (*flow.Flow, error) {
	return func() (*flow.Flow, error) {
		f, err := build()
		if err != nil {
			return nil, err
		}
		return f, f.SetNames(names)
	}
}

// Cases lists the golden models; autoregressive ones are appended by
// moreCases, spline couplings by splineCases, autoregressive spline layers
// by splineARCases, LU-factored linear and ActNorm layers by linearCases,
// flows over trainable bases by baseCases, residual conditioners by
// residualCases and conditional ones by contextCases.
func Cases() []Case {
	cs := []Case{
		{Name: "affine-relu", Description: "one affine coupling layer, D = 3, mask [1 0 1], conditioner 2→4→2 with ReLU, no clamp",
			Build: layers(coupling([]bool{true, false, true}, []int{4}, flow.ReLU, flow.Affine{}))},
		{Name: "affine-tanh-clamp", Description: "one affine coupling layer, D = 4, mask [0 1 1 0], conditioner 2→5→3→4 with tanh, clamp 1.5",
			Build: layers(coupling([]bool{false, true, true, false}, []int{5, 3}, flow.Tanh, flow.Affine{Clamp: 1.5}))},
		{Name: "affine-linear", Description: "one affine coupling layer, D = 2, mask [1 0], no hidden layer (conditioner 1→2)",
			Build: layers(coupling([]bool{true, false}, nil, flow.ReLU, flow.Affine{}))},
		{Name: "additive-tanh", Description: "one additive coupling layer, D = 3, mask [0 1 0], conditioner 1→4→2 with tanh",
			Build: layers(coupling([]bool{false, true, false}, []int{4}, flow.Tanh, flow.Additive{}))},
		{Name: "additive-relu", Description: "one additive coupling layer, D = 2, mask [0 1], conditioner 1→3→3→1 with ReLU",
			Build: layers(coupling([]bool{false, true}, []int{3, 3}, flow.ReLU, flow.Additive{}))},
		{Name: "permutation", Description: "one permutation, D = 4, x_i = z_perm[i] with perm [2 0 3 1]",
			Build: layers(perm(2, 0, 3, 1))},
		{Name: "standardize", Description: "one standardisation, D = 3: x = shift + scale ⊙ z",
			Build: layers(std([]float64{1.5, -2, 0.25}, []float64{2, 0.5, 3}))},
		{Name: "inverse-affine", Description: "an affine coupling layer with its directions swapped (inverse), D = 3, mask [1 1 0], conditioner 2→4→2 with tanh, clamp 2",
			Build: layers(flow.Invert(coupling([]bool{true, true, false}, []int{4}, flow.Tanh, flow.Affine{Clamp: 2})))},
		{Name: "mixed-coupling", Description: "a flow of coupling layers, permutations and a standardisation, D = 3",
			Build: layers(
				coupling([]bool{true, false, true}, []int{6, 6}, flow.Tanh, flow.Affine{Clamp: 3}),
				perm(2, 0, 1),
				coupling([]bool{true, false, false}, []int{5}, flow.ReLU, flow.Affine{}),
				coupling([]bool{false, true, true}, []int{4}, flow.Tanh, flow.Additive{}),
				flow.Invert(coupling([]bool{false, false, true}, []int{3}, flow.Tanh, flow.Affine{Clamp: 1})),
				perm(1, 2, 0),
				std([]float64{0.5, -1, 2}, []float64{1.5, 0.75, 2.5}),
			)},
		{Name: "names", Description: "one affine coupling layer and a standardisation, D = 2, conditioner 1→3→2 with tanh, with the column names of the data",
			Build: named([]string{"waiting", "eruptions"}, layers(
				coupling([]bool{false, true}, []int{3}, flow.Tanh, flow.Affine{}),
				std([]float64{70, 3.5}, []float64{13.5, 1.1}),
			))},
	}
	cs = append(cs, moreCases()...)
	cs = append(cs, splineCases()...)
	cs = append(cs, splineARCases()...)
	cs = append(cs, linearCases()...)
	cs = append(cs, baseCases()...)
	cs = append(cs, residualCases()...)
	return append(cs, contextCases()...)
}

// rows returns n rows of d standard normal draws times scale.
func rows(n, d int, scale float64, rnd *rand.Rand) *mat.Dense {
	x := mat.NewDense(n, d, nil)
	for i := range x.RawMatrix().Data {
		x.RawMatrix().Data[i] = scale * rnd.NormFloat64()
	}
	return x
}

func toRows(m *mat.Dense) [][]float64 {
	r, _ := m.Dims()
	out := make([][]float64, r)
	for i := range out {
		out[i] = append([]float64(nil), m.RawRowView(i)...)
	}
	return out
}

// canInverse and canForward say whether every layer backpropagates
// through Inverse or Forward (and, for canForward, whether the base's draw
// has a reparameterisation gradient).
func canInverse(f *flow.Flow) bool {
	for _, l := range f.Layers() {
		if _, ok := l.(flow.InverseGrader); !ok {
			return false
		}
		if v, ok := l.(*flow.Inverted); ok {
			if _, ok := v.L.(flow.ForwardGrader); !ok {
				return false
			}
		}
	}
	return true
}

func canForward(f *flow.Flow) bool {
	if _, ok := f.Base().(*flow.MixtureBase); ok {
		// The mixture's component draw has no reparameterisation gradient.
		return false
	}
	for _, l := range f.Layers() {
		if _, ok := l.(flow.ForwardGrader); !ok {
			return false
		}
		if v, ok := l.(*flow.Inverted); ok {
			if _, ok := v.L.(flow.InverseGrader); !ok {
				return false
			}
		}
	}
	return true
}

// gradDoc returns the model document of f with its parameters replaced by
// grad.
func gradDoc(f *flow.Flow, grad []float64) (json.RawMessage, error) {
	p := append([]float64(nil), f.Params()...)
	f.SetParams(grad)
	b, err := flow.MarshalFlow(f)
	f.SetParams(p)
	return b, err
}

// Generate computes the golden vectors of c.
func Generate(c Case, seed uint64) (*golden.File, error) {
	f, err := c.Build()
	if err != nil {
		return nil, err
	}
	rnd := rand.New(rand.NewPCG(seed, 0x901de4))
	// Parameters drawn from N(0, 0.5²), so that no layer is the identity.
	for i := range f.Params() {
		f.Params()[i] = 0.5 * rnd.NormFloat64()
	}
	if err := zeroMasked(f); err != nil {
		return nil, err
	}
	if c.Prepare != nil {
		c.Prepare(f)
	}
	d := f.Dim()
	const n = 5
	g := &golden.File{Name: c.Name, Description: c.Description}
	if g.Model, err = flow.MarshalFlow(f); err != nil {
		return nil, err
	}
	x := rows(n, d, 1.5, rnd)
	z := rows(n, d, 1, rnd)
	var ctx *mat.Dense
	if f.ContextDim() > 0 {
		// Drawn after x and z, so that the inputs of a model without a
		// context do not depend on whether contexts exist.
		ctx = rows(n, f.ContextDim(), 1, rnd)
	}
	if c.Inputs != nil {
		c.Inputs(x, z)
	}
	g.X, g.Base = toRows(x), toRows(z)
	if ctx != nil {
		return g, generateGiven(g, f, x, z, ctx)
	}

	var zi, xf mat.Dense
	g.InverseLogDet = make([]float64, n)
	f.Inverse(&zi, x, g.InverseLogDet)
	g.Z = toRows(&zi)
	g.LogProb = f.LogProb(nil, x)
	g.ForwardLogDet = make([]float64, n)
	f.Forward(&xf, z, g.ForwardLogDet)
	g.Forward = toRows(&xf)

	grad := make([]float64, f.NumParams())
	if canInverse(f) {
		nll := flow.NewMaxLikelihood(f, 1, 0).LossGrad(grad, x)
		g.NLL = &nll
		if g.NLLGrad, err = gradDoc(f, grad); err != nil {
			return nil, err
		}
	}
	if canForward(f) {
		kl := flow.NewReverseKL(f, golden.Banana, 1, 0).LossGrad(grad, z)
		g.KLTarget = "banana"
		g.ReverseKL = &kl
		if g.ReverseKLGrad, err = gradDoc(f, grad); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Seed returns the seed of a case: a hash of its name, so that adding a
// case changes no other.
func Seed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

func main() {
	out := flag.String("out", "testdata/golden", "the directory to write")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, c := range Cases() {
		g, err := Generate(c, Seed(c.Name))
		if err != nil {
			log.Fatalf("%s: %v", c.Name, err)
		}
		b, err := golden.Marshal(g)
		if err != nil {
			log.Fatalf("%s: %v", c.Name, err)
		}
		name := filepath.Join(*out, c.Name+".json")
		if old, err := os.ReadFile(name); err == nil && golden.Agree(old, b) == nil {
			fmt.Println("kept", name)
			continue
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", name)
	}
}
