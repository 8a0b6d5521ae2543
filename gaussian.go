// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// log2Pi is log(2π).
const log2Pi = 1.8378770664093454835606594728112

// StdNormalLogProb returns the log-density of the standard normal in
// len(z) dimensions at z:
//
//	log N(z; 0, I) = −½‖z‖² − (D/2)·log 2π.
func StdNormalLogProb(z []float64) float64 { return stdNormalLogProb(z) }

// stdNormalLogProb is StdNormalLogProb for either element type, summed in
// float64 from the T values.
func stdNormalLogProb[T kernElem](z []T) float64 {
	s := 0.0
	for _, v := range z {
		s += float64(v) * float64(v)
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
// step of log p(x) = log N(g(x)) + log|det ∂g/∂x|. For float32 rows the
// sums are taken in float64 of the float32 values.
func stdNormalRows[T kernElem](dst []float64, z, logdet []T, d int) {
	c := -0.5 * float64(d) * log2Pi
	for i := range dst {
		s := 0.0
		for _, v := range z[i*d : i*d+d] {
			s += float64(v) * float64(v)
		}
		dst[i] = c - 0.5*s + float64(logdet[i])
	}
}

// Gaussian is a full-covariance normal distribution, the baseline a flow
// should beat: FitGaussian returns the maximum-likelihood one for a dataset.
type Gaussian struct {
	Mean []float64
	chol mat.Cholesky
}

// maxGaussianCond bounds the condition number of the correlation matrix
// that FitGaussian accepts. The covariance is computed from sums of products,
// so rounding perturbs its eigenvalues by about 1e-16 of the largest: at a
// condition number of 1e12 the smallest is still known to about 1e-4, and
// beyond it the fitted density along the thinnest direction is rounding
// noise (the columns are linearly dependent up to noise about 1e-6 of their
// spread or less).
const maxGaussianCond = 1e12

// FitGaussian returns the maximum-likelihood full-covariance Gaussian of the
// rows of x: the sample mean and the covariance with divisor n. It returns an
// error if x has non-finite entries or its covariance is singular or nearly
// so: fewer than D+1 rows, a constant column, or columns that are linearly
// dependent, exactly or up to noise (a correlation matrix whose condition
// number exceeds 1e12). The error names the columns involved.
func FitGaussian(x mat.Matrix) (*Gaussian, error) {
	if isNil(x) {
		return nil, errors.New("flow: FitGaussian: x is nil")
	}
	if err := CheckFinite(x); err != nil {
		return nil, err
	}
	n, d := x.Dims()
	if n < d+1 || n < 2 {
		return nil, fmt.Errorf("flow: FitGaussian: %d rows: a %d-dimensional covariance needs at least %d, or it is singular", n, d, max(d+1, 2))
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
	if err := checkCovariance(x, cov); err != nil {
		return nil, fmt.Errorf("flow: FitGaussian: the covariance is singular: %w", err)
	}
	g := &Gaussian{Mean: mean}
	if !g.chol.Factorize(cov) {
		return nil, errors.New("flow: FitGaussian: the covariance is singular: its Cholesky factorisation fails")
	}
	return g, nil
}

// checkCovariance returns an error unless the covariance cov of the rows of
// x is safely non-singular. A column is constant when its standard deviation
// is at most 1e-12 of its largest magnitude (rounding alone leaves that
// much); otherwise the covariance is scaled to the correlation matrix, whose
// condition number, free of the columns' units, must not exceed
// maxGaussianCond. The eigenvector of the smallest eigenvalue names the
// columns that are (nearly) linearly dependent.
func checkCovariance(x mat.Matrix, cov *mat.SymDense) error {
	n, d := x.Dims()
	sd := make([]float64, d)
	for j := range sd {
		sd[j] = math.Sqrt(cov.At(j, j))
		big := 0.0
		for i := 0; i < n; i++ {
			big = math.Max(big, math.Abs(x.At(i, j)))
		}
		if !(sd[j] > 1e-12*big) {
			return fmt.Errorf("column %d is constant (standard deviation %.3g)", j, sd[j])
		}
	}
	corr := mat.NewSymDense(d, nil)
	for j := 0; j < d; j++ {
		for k := j; k < d; k++ {
			corr.SetSym(j, k, cov.At(j, k)/(sd[j]*sd[k]))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(corr, true) {
		return errors.New("the eigen-decomposition of the correlation matrix fails")
	}
	vals := eig.Values(nil) // ascending
	lo, hi := vals[0], vals[d-1]
	if lo > 0 && hi <= maxGaussianCond*lo {
		return nil
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	var cols []int
	for j := 0; j < d; j++ {
		if math.Abs(vecs.At(j, 0)) >= 0.1 {
			cols = append(cols, j)
		}
	}
	cond := "infinite"
	if lo > 0 {
		cond = fmt.Sprintf("%.3g", hi/lo)
	}
	return fmt.Errorf("columns %s are linearly dependent, exactly or up to noise (the correlation matrix has condition number %s, more than %.0g)", listInts(cols), cond, float64(maxGaussianCond))
}

// listInts writes v as "1", "1 and 2" or "1, 2 and 3".
func listInts(v []int) string {
	var sb strings.Builder
	for i, x := range v {
		switch {
		case i == 0:
		case i == len(v)-1:
			sb.WriteString(" and ")
		default:
			sb.WriteString(", ")
		}
		fmt.Fprint(&sb, x)
	}
	return sb.String()
}

// LogProb writes the log-density of each row of x into dst (allocated when
// nil) and returns it:
//
//	log N(x; μ, Σ) = −½(x−μ)ᵀΣ⁻¹(x−μ) − ½ log|Σ| − (D/2) log 2π.
func (g *Gaussian) LogProb(dst []float64, x mat.Matrix) []float64 {
	if g == nil {
		panic("flow: Gaussian.LogProb: nil *Gaussian")
	}
	checkArg("Gaussian.LogProb", "x", x)
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
