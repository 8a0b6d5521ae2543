// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// DefaultBatchNormEpsilon is the ε of a BatchNorm layer made with ε = 0.
const DefaultBatchNormEpsilon = 1e-5

// BatchNorm is batch normalisation as a bijector (Dinh et al. 2017, Real
// NVP §3.7; Papamakarios et al. 2017, MAF §3.4), in the MAF paper's
// parametrisation: a log-scale γ and a shift β, trained, and statistics
// m (mean) and v (variance) per dimension. In the density direction,
// data → base,
//
//	Inverse:  z = (x − m) ⊙ exp(γ)/√(v + ε) + β,      log|det ∂z/∂x| =  Σ_i (γ_i − ½ log(v_i + ε))
//	Forward:  x = (z − β) ⊙ √(v + ε)·exp(−γ) + m,     log|det ∂x/∂z| = −Σ_i (γ_i − ½ log(v_i + ε))
//
// Its parameters are [γ ; β], D values each.
//
// The layer has two modes, and which one applies is explicit, never a
// switch: every method of the Layer interface (and so LogProb, Sample,
// Forward, Inverse, GradLogProb and reverse-KL training) is the
// evaluation mode, which uses the statistics stored in the layer (Mean,
// Variance). Maximum-likelihood training (MaxLikelihood, Fit) is the
// training mode: there m and v are the mean and the variance (divisor n)
// of the layer's input over all the rows of the minibatch, and the
// gradient flows through them (docs/design.md §1.13). After training, Fit
// recomputes the stored statistics over the whole training set
// (SetBatchNormStats), as the MAF paper does; a caller training with its
// own loop calls SetBatchNormStats itself. The statistics are not
// parameters: they are not in Params, and Adam does not see them, but they
// travel with the model file.
//
// Only BatchNorm layers themselves use batch statistics in training; one
// wrapped by Invert is in evaluation mode throughout.
//
// A new layer has γ = β = 0, m = 0 and v = 1, so that its evaluation mode
// is x·1/√(1 + ε) ≈ x: not exactly the identity, since ε > 0 (the training
// mode standardises the batch whatever the start).
//
// Apart from the statistics, which only SetStats, SetBatchNormStats (also
// through Fit) and UnmarshalFlow write (like the parameters, not while
// other calls use the flow), the layer has no state outside its parameters.
// It has no context.
type BatchNorm struct {
	d      int
	params []float64
	mean   []float64
	vari   []float64
	eps    float64
}

// NewBatchNorm returns a BatchNorm layer of dimension d ≥ 1 with the given
// ε > 0 (0 means DefaultBatchNormEpsilon), γ = β = 0 and the statistics
// m = 0, v = 1. It returns an error for a bad dimension or an ε that is
// negative, not finite, or so large that 1 + ε loses the variance (≥ 1e10).
func NewBatchNorm(d int, eps float64) (*BatchNorm, error) {
	if err := checkDim(d, 1); err != nil {
		return nil, fmt.Errorf("flow: NewBatchNorm: %w", err)
	}
	if eps == 0 {
		eps = DefaultBatchNormEpsilon
	}
	if err := checkBNEpsilon(eps); err != nil {
		return nil, fmt.Errorf("flow: NewBatchNorm: %w", err)
	}
	b := &BatchNorm{d: d, params: make([]float64, 2*d), mean: make([]float64, d), vari: make([]float64, d), eps: eps}
	for i := range b.vari {
		b.vari[i] = 1
	}
	return b, nil
}

// checkBNEpsilon returns an error unless eps is a usable ε.
func checkBNEpsilon(eps float64) error {
	if !(eps > 0 && eps < 1e10) {
		return fmt.Errorf("epsilon %v, want a number in (0, 1e10)", eps)
	}
	return nil
}

// checkBNStats returns an error unless mean and variance hold d finite
// numbers each and every variance is positive.
func checkBNStats(mean, variance []float64, d int) error {
	if len(mean) != d || len(variance) != d {
		return fmt.Errorf("%d means and %d variances, want %d each", len(mean), len(variance), d)
	}
	for i, m := range mean {
		if !isFinite(m) {
			return fmt.Errorf("mean %d is %v", i, m)
		}
	}
	for i, v := range variance {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("variance %d is %v, want a finite number > 0", i, v)
		}
	}
	return nil
}

// LogScale returns a copy of the log-scale γ.
func (b *BatchNorm) LogScale() []float64 { return append([]float64(nil), b.params[:b.d]...) }

// Shift returns a copy of the shift β.
func (b *BatchNorm) Shift() []float64 { return append([]float64(nil), b.params[b.d:]...) }

// Mean returns a copy of the stored mean m of the evaluation mode.
func (b *BatchNorm) Mean() []float64 { return append([]float64(nil), b.mean...) }

// Variance returns a copy of the stored variance v of the evaluation mode.
func (b *BatchNorm) Variance() []float64 { return append([]float64(nil), b.vari...) }

// Epsilon returns ε.
func (b *BatchNorm) Epsilon() float64 { return b.eps }

// SetStats sets the stored statistics of the evaluation mode. It returns
// an error, changing nothing, unless mean and variance hold D finite
// numbers each and every variance is positive. Like writing the
// parameters, it must not run while other calls use the layer.
func (b *BatchNorm) SetStats(mean, variance []float64) error {
	if err := checkBNStats(mean, variance, b.d); err != nil {
		return fmt.Errorf("flow: BatchNorm.SetStats: %w", err)
	}
	copy(b.mean, mean)
	copy(b.vari, variance)
	return nil
}

func (b *BatchNorm) Dim() int          { return b.d }
func (b *BatchNorm) NumParams() int    { return 2 * b.d }
func (b *BatchNorm) Params() []float64 { return b.params }
func (b *BatchNorm) ContextDim() int   { return 0 }

// WorkLen returns n·D + 2D: the scale factors of a pass (2D) and, in the
// training mode, the normalised input x̂ of its n rows.
func (b *BatchNorm) WorkLen(n int) int { return n*b.d + 2*b.d }

func (b *BatchNorm) BindParams(p []float64) {
	copy(p, b.params)
	b.params = p
}

// Inverse sets z = (x − m) ⊙ a + β with a = exp(γ)/√(v + ε), the stored
// statistics (evaluation mode), and adds Σ_i (γ_i − ½ log(v_i + ε)) to
// logdet. work keeps a.
func (b *BatchNorm) Inverse(z, x, _, logdet, work []float64) {
	checkRows("BatchNorm.Inverse", b.d, logdet, x, z)
	bnInverse(b, b.params, z, x, logdet, work, b.mean, b.vari)
}

// bnInverse is Inverse with the statistics mean and vari, for either
// element type, with the parameters p = [γ ; β]. It keeps
// a = exp(γ)/√(v + ε) in work[:D] and ρ = 1/√(v + ε) in work[D:2D].
//
// The statistics are float64 in both element types (the stored ones, or
// the batch's, whose sums over rows are float64), and so is the layer's
// arithmetic, each result rounded once to T: per dimension, ρ, a and the
// log-det; per row, z = (x − m)·a + β, from x, a and β in T and m in
// float64. The layer is elementwise and cheap beside the conditioners, and
// this keeps x − m exact where the mean is large beside the spread, and the
// rounding of each value to one float32 rounding (what the training mode's
// backward pass, a difference of such values, needs).
func bnInverse[T kernElem](b *BatchNorm, p, z, x, logdet, work []T, mean, vari []float64) {
	d := b.d
	g, beta := p[:d], p[d:2*d]
	a, rho := work[:d], work[d:2*d]
	ld := 0.0
	for i, v := range vari {
		ve := v + b.eps
		r := 1 / math.Sqrt(ve)
		rho[i] = T(r)
		a[i] = T(math.Exp(float64(g[i])) * r)
		ld += float64(g[i]) - 0.5*math.Log(ve)
	}
	for r := range logdet {
		xr, zr := x[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range xr {
			zr[i] = T((float64(v)-mean[i])*float64(a[i]) + float64(beta[i]))
		}
		logdet[r] += T(ld)
	}
}

// Forward sets x = (z − β) ⊙ r + m with r = √(v + ε)·exp(−γ), the stored
// statistics, and adds −Σ_i (γ_i − ½ log(v_i + ε)) to logdet. work keeps r.
func (b *BatchNorm) Forward(x, z, _, logdet, work []float64) {
	checkRows("BatchNorm.Forward", b.d, logdet, x, z)
	bnForward(b, b.params, x, z, logdet, work)
}

// bnForward is Forward for either element type with the parameters
// p = [γ ; β], in float64 as bnInverse, each result rounded once to T.
func bnForward[T kernElem](b *BatchNorm, p, x, z, logdet, work []T) {
	d := b.d
	g, beta := p[:d], p[d:2*d]
	rs := work[:d]
	ld := 0.0
	for i, v := range b.vari {
		ve := v + b.eps
		rs[i] = T(math.Sqrt(ve) * math.Exp(-float64(g[i])))
		ld += float64(g[i]) - 0.5*math.Log(ve)
	}
	for r := range logdet {
		xr, zr := x[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range zr {
			xr[i] = T((float64(v)-float64(beta[i]))*float64(rs[i]) + b.mean[i])
		}
		logdet[r] -= T(ld)
	}
}

// InverseBackward of the evaluation mode, z = (x − m) ⊙ a + β with
// a = exp(γ)/√(v + ε) and ld = Σ (γ − ½ log(v + ε)), m and v fixed, per
// row r and dimension i:
//
//	∂L/∂x_ri = dz_ri·a_i
//	∂L/∂β_i  = Σ_r dz_ri
//	∂L/∂γ_i  = Σ_r (dz_ri·(z_ri − β_i) + dld_r)   (∂z_ri/∂γ_i = (x_ri − m_i)·a_i = z_ri − β_i, ∂ld/∂γ_i = 1)
func (b *BatchNorm) InverseBackward(dx, _, dz, dld, _, z, _, work, grad []float64) {
	bnInverseBackward(b, b.params, dx, dz, dld, z, work, grad)
}

// bnInverseBackward is InverseBackward for either element type with the
// parameters p = [γ ; β], its sums over rows in T (a shard's share of the
// gradient).
func bnInverseBackward[T kernElem](b *BatchNorm, p, dx, dz, dld, z, work, grad []T) {
	d := b.d
	beta := p[d:]
	a := work[:d]
	gg, gb := grad[:d], grad[d:2*d]
	var sum T
	for r, g := range dld {
		dxr, dzr, zr := dx[r*d:r*d+d], dz[r*d:r*d+d], z[r*d:r*d+d]
		for i, v := range dzr {
			dxr[i] = v * a[i]
			gb[i] += v
			gg[i] += v * (zr[i] - beta[i])
		}
		sum += g
	}
	for i := range gg {
		gg[i] += sum
	}
}

// forward32, inverse32 and inverseBackward32 are Forward, Inverse and
// InverseBackward (the evaluation mode, with the stored statistics) in
// float32 with the parameters p, [γ ; β] (the layer's window of a float32
// vector), from the same source (bnForward, bnInverse, bnInverseBackward).
// The statistics stay float64 in the layer, shared with the float64 flow.

func (b *BatchNorm) forward32(p, x, z, _, logdet, work []float32) {
	checkRows("BatchNorm.Forward", b.d, logdet, x, z)
	bnForward(b, p, x, z, logdet, work)
}

func (b *BatchNorm) inverse32(p, z, x, _, logdet, work []float32) {
	checkRows("BatchNorm.Inverse", b.d, logdet, x, z)
	bnInverse(b, p, z, x, logdet, work, b.mean, b.vari)
}

func (b *BatchNorm) inverseBackward32(p, dx, _, dz, dld, _, z, _, work, grad []float32) {
	bnInverseBackward(b, p, dx, dz, dld, z, work, grad)
}

// ForwardBackward of the evaluation mode, x = (z − β) ⊙ r + m with
// r = √(v + ε)·exp(−γ) and ld = −Σ (γ − ½ log(v + ε)), per row r and
// dimension i:
//
//	∂L/∂z_ri = dx_ri·r_i
//	∂L/∂β_i  = −Σ_r dx_ri·r_i
//	∂L/∂γ_i  = −Σ_r (dx_ri·(x_ri − m_i) + dld_r)   (∂x_ri/∂γ_i = −(z_ri − β_i)·r_i = −(x_ri − m_i), ∂ld/∂γ_i = −1)
func (b *BatchNorm) ForwardBackward(dz, _, dx, dld, _, x, _, work, grad []float64) {
	bnForwardBackward(b, dz, dx, dld, x, work, grad)
}

// bnForwardBackward is ForwardBackward for either element type (r left in
// work by bnForward), its sums over rows in T (a shard's share of the
// gradient); m is rounded to T.
func bnForwardBackward[T kernElem](b *BatchNorm, dz, dx, dld, x, work, grad []T) {
	d := b.d
	rs := work[:d]
	gg, gb := grad[:d], grad[d:2*d]
	var sum T
	for r, g := range dld {
		dxr, dzr, xr := dx[r*d:r*d+d], dz[r*d:r*d+d], x[r*d:r*d+d]
		for i, v := range dxr {
			vr := v * rs[i]
			dzr[i] = vr
			gb[i] -= vr
			gg[i] -= v * (xr[i] - T(b.mean[i]))
		}
		sum += g
	}
	for i := range gg {
		gg[i] -= sum
	}
}

// forwardBackward32 is ForwardBackward in float32 (bnForwardBackward).
func (b *BatchNorm) forwardBackward32(_, dz, _, dx, dld, _, x, _, work, grad []float32) {
	bnForwardBackward(b, dz, dx, dld, x, work, grad)
}

// The training mode. Over the N rows of a minibatch, cut into shards,
// with the batch statistics of the layer's input x
//
//	m_i = (1/N) Σ_r x_ri,   v_i = (1/N) Σ_r (x_ri − m_i)²,
//	ρ_i = 1/√(v_i + ε),   x̂_ri = (x_ri − m_i)·ρ_i,   s_i = exp(γ_i),
//	z_ri = x̂_ri·s_i + β_i,   ld_r = Σ_i (γ_i + log ρ_i)   (the same for every row),
//
// and S the loss summed over the minibatch's rows, with dz_ri = ∂S/∂z_ri
// and dld_r = ∂S/∂ld_r given, write g_ri = dz_ri·s_i (= ∂S/∂x̂_ri) and
//
//	G1_i = Σ_r g_ri,   G2_i = Σ_r g_ri·x̂_ri,   Λ = Σ_r dld_r.
//
// The parameters' gradients are those of the evaluation mode with the
// batch statistics:
//
//	∂S/∂β_i = Σ_r dz_ri,   ∂S/∂γ_i = Σ_r dz_ri·x̂_ri·s_i + Λ = G2_i + Λ.
//
// The input's gradient has three parts: the direct one, g_ri·ρ_i; through
// m_i, on which every x̂_ki depends by ∂x̂_ki/∂m_i = −ρ_i; and through v_i,
// on which x̂_ki depends by ∂x̂_ki/∂v_i = −½ x̂_ki·ρ_i² and, since
// log ρ_i = −½ log(v_i + ε), every ld_k by ∂ld_k/∂v_i = −½ ρ_i². So
//
//	∂S/∂m_i = −ρ_i·G1_i        (plus a term through v_i that vanishes: ∂v_i/∂m_i = −(2/N) Σ_r (x_ri − m_i) = 0)
//	∂S/∂v_i = −½ ρ_i²·(G2_i + Λ)
//
// and with ∂m_i/∂x_ri = 1/N and ∂v_i/∂x_ri = (2/N)(x_ri − m_i) = (2/N)·x̂_ri/ρ_i,
//
//	∂S/∂x_ri = g_ri·ρ_i − ρ_i·G1_i/N − ρ_i·x̂_ri·(G2_i + Λ)/N
//	         = ρ_i·(g_ri − G1_i/N − x̂_ri·(G2_i + Λ)/N).
//
// The sums G1, G2 and Λ run over the whole minibatch, all shards: each
// shard computes its share (bnPartials), the objective adds the shares in
// shard order, and then each shard computes its rows' ∂S/∂x
// (bnTrainBackward). The share of a shard is also its share of ∂S/∂γ and
// ∂S/∂β, which go into the shard's gradient vector like any layer's.

// Precision: the batch statistics, the shards' shares of the backward sums
// and their totals are float64 in both element types (part, stats and sums
// are []float64); the rows, x̂, the deltas and the gradient's shares are T.
// The sums over the minibatch's rows are what the statistics and the
// backward pass of every row are made of: in float32 each would carry an
// error growing with the rows summed, and the variance and ∂S/∂x are
// differences of such sums (v = M2/N around the mean; g − G1/N −
// x̂·(G2 + Λ)/N), which would turn it into a relative error of the
// result; summed in float64, as the loss is, the float32 path's
// statistics and backward sums are those of its float32 rows to
// float64's rounding.

// bnTrainInverse is the training mode's Inverse of the rows of one shard,
// for either element type, with the parameters p and the minibatch's
// statistics mean and vari: it is the evaluation map with them, and keeps
// x̂ = (x − m)·ρ in work[2D : 2D + n·D] (in float64, rounded once to T).
func bnTrainInverse[T kernElem](b *BatchNorm, p, z, x, logdet, work []T, mean, vari []float64) {
	d := b.d
	bnInverse(b, p, z, x, logdet, work, mean, vari)
	rho := work[d : 2*d]
	xh := work[2*d : 2*d+len(x)]
	for r := range logdet {
		xr, hr := x[r*d:r*d+d], xh[r*d:r*d+d]
		for i, v := range xr {
			hr[i] = T((float64(v) - mean[i]) * float64(rho[i]))
		}
	}
}

// bnPartials writes the shard's share of the sums of the training mode's
// backward pass, part = [Σ_r dz_ri (D) ; Σ_r dz_ri·x̂_ri (D) ; Σ_r dld_r],
// over its rows, following bnTrainInverse with the same work, and adds the
// shard's share of ∂S/∂γ and ∂S/∂β into grad (each rounded once to T);
// for either element type, with the parameters p.
func bnPartials[T kernElem](b *BatchNorm, p []T, part []float64, dz, dld, work, grad []T) {
	d := b.d
	p1, p2 := part[:d], part[d:2*d]
	clear(p1)
	clear(p2)
	xh := work[2*d : 2*d+len(dz)]
	lam := 0.0
	for r, g := range dld {
		dzr, hr := dz[r*d:r*d+d], xh[r*d:r*d+d]
		for i, v := range dzr {
			p1[i] += float64(v)
			p2[i] += float64(v) * float64(hr[i])
		}
		lam += float64(g)
	}
	part[2*d] = lam
	gg, gb := grad[:d], grad[d:2*d]
	for i := range gg {
		gg[i] += T(math.Exp(float64(p[i]))*p2[i] + lam)
		gb[i] += T(p1[i])
	}
}

// bnTrainBackward writes ∂S/∂x of the rows of one shard, following
// bnTrainInverse with the same work, from dz and the minibatch's sums
// sums = [Σ dz (D) ; Σ dz·x̂ (D) ; Λ] over its N rows (the shards'
// bnPartials added in shard order), for either element type, with the
// parameters p:
//
//	∂S/∂x_ri = ρ_i·(g_ri − G1_i/N − x̂_ri·(G2_i + Λ)/N),   g = dz·s, G1 = s·Σ dz, G2 = s·Σ dz·x̂.
//
// in float64, each ∂S/∂x_ri rounded once to T: it is a difference of
// terms larger than itself (the layer takes out of the gradient its
// components along the batch's mean and along x̂).
func bnTrainBackward[T kernElem](b *BatchNorm, p, dx, dz, work []T, sums []float64, N int) {
	d := b.d
	rho := work[d : 2*d]
	xh := work[2*d : 2*d+len(dz)]
	lam := sums[2*d]
	inv := 1 / float64(N)
	// Per dimension: s_i, c1_i = G1_i/N and c2_i = (G2_i + Λ)/N, kept in
	// the pass's scale slots, which the backward pass no longer needs.
	s := work[:d]
	for i := range s {
		s[i] = T(math.Exp(float64(p[i])))
	}
	for r := 0; r*d < len(dz); r++ {
		dxr, dzr, hr := dx[r*d:r*d+d], dz[r*d:r*d+d], xh[r*d:r*d+d]
		for i, v := range dzr {
			si := float64(s[i])
			c1 := si * sums[i] * inv
			c2 := (si*sums[d+i] + lam) * inv
			dxr[i] = T(float64(rho[i]) * (float64(v)*si - c1 - float64(hr[i])*c2))
		}
	}
}

// bnMoments writes the mean and the sum of squared deviations M2 of each
// column of the n rows of width d in rows into part = [mean (D) ; M2 (D)],
// summing over the rows in order in float64, for rows of either element
// type.
func bnMoments[T kernElem](part []float64, rows []T, n, d int) {
	mean, m2 := part[:d], part[d:2*d]
	clear(mean)
	clear(m2)
	for r := 0; r < n; r++ {
		for i, v := range rows[r*d : r*d+d] {
			mean[i] += float64(v)
		}
	}
	for i := range mean {
		mean[i] /= float64(n)
	}
	for r := 0; r < n; r++ {
		for i, v := range rows[r*d : r*d+d] {
			u := float64(v) - mean[i]
			m2[i] += u * u
		}
	}
}

// bnCombine merges the moments of consecutive groups of rows, parts[k] =
// [mean ; M2] of counts[k] rows, in their order (Chan, Golub & LeVeque
// 1979), into stats = [mean (D) ; variance (D)] with divisor Σ counts:
//
//	n = n_a + n_b,  δ = m_b − m_a,  m = m_a + δ·n_b/n,  M2 = M2_a + M2_b + δ²·n_a·n_b/n.
//
// The order of the groups fixes every sum, so the result depends on the
// groups alone, never on who computed them.
func bnCombine(stats []float64, parts [][]float64, counts []int, d int) {
	mean, vari := stats[:d], stats[d:2*d]
	copy(mean, parts[0][:d])
	copy(vari, parts[0][d:2*d]) // M2 until the end
	na := float64(counts[0])
	for k := 1; k < len(parts); k++ {
		nb := float64(counts[k])
		n := na + nb
		pm, pm2 := parts[k][:d], parts[k][d:2*d]
		for i := range mean {
			delta := pm[i] - mean[i]
			mean[i] += delta * nb / n
			vari[i] += pm2[i] + delta*delta*na*nb/n
		}
		na = n
	}
	for i := range vari {
		vari[i] /= na
	}
}

// SetBatchNormStats sets the stored statistics of every BatchNorm layer of
// f (the evaluation mode's mean and variance) to those of the layer's
// input over the rows of x, and returns how many layers it set. It walks
// the layers in the data → base direction, the last layer first, passing
// the rows of x (n×D, with their contexts c, n×C, for a conditional flow;
// nil otherwise) through them with their Inverse, the evaluation mode, so
// that each BatchNorm layer's statistics are taken after those of the
// BatchNorm layers on its data side have been set: for each dimension i of
// the layer's input u,
//
//	m_i = (1/n) Σ_r u_ri,   v_i = (1/n) Σ_r (u_ri − m_i)².
//
// This is what the MAF paper does after training, and Fit does it on its
// training rows at the end of every epoch and of the run. The sums run
// over the rows in order, so the result depends on the rows and their
// order alone, never on the number of goroutines. Only BatchNorm layers
// themselves are set, not ones wrapped by Invert. With no BatchNorm layer
// it does nothing and returns 0.
//
// It panics if f or x is nil, and returns an error, changing nothing, if x
// does not have D columns, has no rows or holds NaN or ±Inf, if c is
// missing for a conditional flow, given for an unconditional one, of the
// wrong shape or not finite, or if some dimension of a BatchNorm layer's
// input has a mean that is not finite or a variance that is zero or not
// finite. Like writing the parameters, it must not run while other calls
// use f.
func SetBatchNormStats(f *Flow, x, c mat.Matrix) (int, error) {
	const method = "SetBatchNormStats"
	if f == nil {
		panic("flow: SetBatchNormStats: nil flow")
	}
	if isNilMatrix(x) {
		panic("flow: SetBatchNormStats: nil x")
	}
	if len(batchNormLayers(f)) == 0 {
		return 0, nil
	}
	data, ctx, n, err := checkRowsContexts(method, f, x, c)
	if err != nil {
		return 0, err
	}
	return setBatchNormStats(method, "the rows of x", f, data, ctx, n)
}

// batchNormLayers returns the indices of f's BatchNorm layers (not those
// wrapped by Invert), the data side first.
func batchNormLayers(f *Flow) []int {
	var idx []int
	for l := len(f.layers) - 1; l >= 0; l-- {
		if _, ok := f.layers[l].(*BatchNorm); ok {
			idx = append(idx, l)
		}
	}
	return idx
}

// bnStatsJob is one layer's evaluation-mode Inverse of the rows of a
// buffer, shard by shard on the pool, for setBatchNormStats.
type bnStatsJob struct {
	runState
	f          *Flow
	l          int
	dst, src   []float64
	ctx        []float64
	n          int
	work, logd [][]float64 // per runner
}

func (j *bnStatsJob) runShard(r, s int) {
	d, nc := j.f.d, j.f.c
	lo := s * evalShard
	hi := min(lo+evalShard, j.n)
	var c []float64
	if nc > 0 {
		c = j.ctx[lo*nc : hi*nc]
	}
	ld := j.logd[r][:hi-lo]
	clear(ld)
	j.f.layers[j.l].Inverse(j.dst[lo*d:hi*d], j.src[lo*d:hi*d], c, ld, j.work[r])
}

// setBatchNormStats is SetBatchNormStats on the n rows x (n×D, row-major,
// finite) with their contexts ctx (n×C, or nil), called what in errors.
// On an error the layers it had set are put back as they were.
func setBatchNormStats(method, what string, f *Flow, x, ctx []float64, n int) (int, error) {
	idx := batchNormLayers(f)
	if len(idx) == 0 {
		return 0, nil
	}
	d := f.d
	if n < 1 {
		return 0, fmt.Errorf("flow: %s: BatchNorm's statistics need at least 1 row, %s has none", method, what)
	}
	type saved struct {
		b          *BatchNorm
		mean, vari []float64
	}
	var done []saved
	undo := func() {
		for _, s := range done {
			copy(s.b.mean, s.mean)
			copy(s.b.vari, s.vari)
		}
	}
	last := idx[len(idx)-1]
	shards := (n + evalShard - 1) / evalShard
	runners := workersFor(0, shards)
	j := &bnStatsJob{f: f, ctx: ctx, n: n}
	wl := 0
	for _, layer := range f.layers[last:] {
		wl = max(wl, layer.WorkLen(evalShard))
	}
	for range runners {
		j.work = append(j.work, make([]float64, wl))
		j.logd = append(j.logd, make([]float64, evalShard))
	}
	stats := make([]float64, 2*d)
	bufs := [2][]float64{make([]float64, n*d), make([]float64, n*d)}
	cur, passes := x, 0
	for l := len(f.layers) - 1; l >= last; l-- {
		if b, ok := f.layers[l].(*BatchNorm); ok {
			bnMoments(stats, cur, n, d)
			for i := range d {
				stats[d+i] /= float64(n)
			}
			if err := checkBNStats(stats[:d], stats[d:], d); err != nil {
				undo()
				return 0, fmt.Errorf("flow: %s: layer %d (BatchNorm), on %s: %w", method, l, what, err)
			}
			done = append(done, saved{b, append([]float64(nil), b.mean...), append([]float64(nil), b.vari...)})
			copy(b.mean, stats[:d])
			copy(b.vari, stats[d:])
		}
		if l == last {
			break
		}
		next := bufs[passes%2] // cur is x or the other buffer
		passes++
		j.l, j.dst, j.src = l, next, cur
		runShards(j, &j.runState, shards, runners)
		cur = next
	}
	return len(done), nil
}
