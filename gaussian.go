// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// log2Pi is log(2π).
const log2Pi = 1.8378770664093454835606594728112

// StdNormalLogProb returns the log-density of the standard normal in
// len(z) dimensions at z:
//
//	log N(z; 0, I) = −½‖z‖² − (D/2)·log 2π.
func StdNormalLogProb(z []float64) float64 {
	s := 0.0
	for _, v := range z {
		s += v * v
	}
	return -0.5*s - 0.5*float64(len(z))*log2Pi
}

// StdNormalGrad writes the gradient of the standard normal log-density at z
// into dst: ∇ log N(z; 0, I) = −z.
func StdNormalGrad(dst, z []float64) {
	for i, v := range z {
		dst[i] = -v
	}
}

// stdNormalFill fills dst with independent standard normal draws, in order,
// from rnd.
func stdNormalFill(dst []float64, rnd *rand.Rand) {
	for i := range dst {
		dst[i] = rnd.NormFloat64()
	}
}

// stdNormalRows writes, for each of the n rows of z (width d), the row's
// standard normal log-density added to logdet[i] into dst[i]. It is the last
// step of log p(x) = log N(g(x)) + log|det ∂g/∂x|.
func stdNormalRows(dst, z, logdet []float64, d int) {
	c := -0.5 * float64(d) * log2Pi
	for i := range dst {
		s := 0.0
		for _, v := range z[i*d : i*d+d] {
			s += v * v
		}
		dst[i] = c - 0.5*s + logdet[i]
	}
}

// Gaussian is a full-covariance normal distribution, the baseline a flow
// should beat: FitGaussian returns the maximum-likelihood one for a dataset.
type Gaussian struct {
	Mean []float64
	chol mat.Cholesky
}

// FitGaussian returns the maximum-likelihood full-covariance Gaussian of the
// rows of x: the sample mean and the covariance with divisor n. It returns an
// error if x has non-finite entries or its covariance is singular.
func FitGaussian(x mat.Matrix) (*Gaussian, error) {
	if err := CheckFinite(x); err != nil {
		return nil, err
	}
	n, d := x.Dims()
	if n < 2 {
		return nil, fmt.Errorf("flow: FitGaussian: %d rows", n)
	}
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := range mean {
			mean[j] += x.At(i, j)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	cov := mat.NewSymDense(d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			a := x.At(i, j) - mean[j]
			for k := j; k < d; k++ {
				cov.SetSym(j, k, cov.At(j, k)+a*(x.At(i, k)-mean[k]))
			}
		}
	}
	cov.ScaleSym(1/float64(n), cov)
	g := &Gaussian{Mean: mean}
	if !g.chol.Factorize(cov) {
		return nil, errors.New("flow: FitGaussian: the covariance is singular")
	}
	return g, nil
}

// LogProb writes the log-density of each row of x into dst (allocated when
// nil) and returns it:
//
//	log N(x; μ, Σ) = −½(x−μ)ᵀΣ⁻¹(x−μ) − ½ log|Σ| − (D/2) log 2π.
func (g *Gaussian) LogProb(dst []float64, x mat.Matrix) []float64 {
	n, d := x.Dims()
	if d != len(g.Mean) {
		panic(fmt.Sprintf("flow: Gaussian.LogProb: x is %d×%d, want %d×%d", n, d, n, len(g.Mean)))
	}
	if dst == nil {
		dst = make([]float64, n)
	}
	c := -0.5*g.chol.LogDet() - 0.5*float64(d)*log2Pi
	u := mat.NewVecDense(d, nil)
	var l mat.TriDense
	g.chol.LTo(&l)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			u.SetVec(j, x.At(i, j)-g.Mean[j])
		}
		// Σ = LLᵀ, so (x−μ)ᵀΣ⁻¹(x−μ) = ‖L⁻¹(x−μ)‖².
		if err := u.SolveVec(&l, u); err != nil {
			dst[i] = math.NaN()
			continue
		}
		dst[i] = c - 0.5*mat.Dot(u, u)
	}
	return dst
}
