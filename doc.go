// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package flow implements normalizing flows: Real NVP and general coupling
// flows, MADE, MAF and IAF, with hand-derived gradients, SIMD kernels and
// goroutine-parallel minibatches.
//
// # The model
//
// A flow defines a density on R^D by pushing a latent variable z from a
// base distribution, the standard normal unless another is given, through
// an invertible map built from layers:
//
//	x = f(z) = f_L(… f_2(f_1(z)))        (Forward, the generative direction)
//	z = g(x) = f⁻¹(x)                     (Inverse)
//	log p(x) = log N(g(x); 0, I) + log|det ∂g/∂x|
//	log N(z; 0, I) = −½‖z‖² − (D/2) log 2π
//
// Layers are listed from the base towards the data: Forward applies
// Layers[0] first, Inverse applies the last layer first. The composition
// x = f^A(f^B(f^C(z))) is New(C, B, A). Every layer reports, per row, the
// log|det| of the Jacobian of the map it just applied, so the log-dets of
// Forward and Inverse are each other's negatives.
//
// # Layers
//
// A coupling layer (Coupling) splits the dimensions by a binary mask into A,
// which passes through, and B, which is transformed by a coupling function
// whose parameters come from a conditioner network g(z_A):
//
//	x_A = z_A,  x_B = h(z_B, g(z_A)).
//
// Affine is Real NVP's h: x_B = exp(s) ⊙ z_B + b with [s ; b] = g(z_A), and
// log|det| = Σ s; with Clamp = c the scale is soft-clamped to
// s = c·tanh(s_raw/c). Additive is NICE's h: x_B = z_B + b. NewRealNVP
// alternates the mask between layers, as in the double layer of Real NVP.
// Permutation reorders dimensions, and Invert swaps a layer's directions.
//
// Glow's layers mix and normalise dimensions between coupling layers.
// LULinear is an invertible linear map with an LU-factored matrix,
// z = W·x + b with W = P·L·U and log|det| = Σ log|u_ii|: one matrix product
// in the density direction, two triangular solves in the other. ActNorm is
// a per-dimension scale and shift whose data-dependent initialisation,
// InitActNorm (which Fit runs on its first minibatch), gives its output
// zero mean and unit variance. BatchNorm is batch normalisation as a
// bijection (Real NVP; MAF's parametrisation): maximum-likelihood training
// normalises by each minibatch's mean and variance and differentiates
// through them; every other call uses the statistics stored in the layer,
// which Fit, or SetBatchNormStats, sets to those of the training set.
//
// # Base distributions
//
// New gives a flow the standard normal base; NewWithBase gives it a
// trainable one, whose parameters follow the layers' in the flat vector and
// are trained with them: DiagGaussianBase (a mean and log standard
// deviation per dimension, starting as N(0, I)), MixtureBase (a mixture of
// K diagonal Gaussians, the MoG base of MAF) and ConditionalGaussianBase (a
// diagonal Gaussian whose mean and log standard deviations are a network of
// the context). log p(x) is then log p_base(g(x)) + log|det ∂g/∂x|.
// Reverse KL needs a reparameterised draw, which a mixture does not have:
// FitReverseKL refuses it.
//
// # Conditional flows
//
// A flow of context dimension C > 0 is a conditional density p(x | c): its
// conditional layers read each row's context c ∈ R^C beside the row (a
// coupling's conditioner takes [z_A ; c]; a MADE's context inputs have
// degree 0 and reach every output), and the others pass it on. The
// Jacobian is taken with c fixed:
//
//	log p(x | c) = log N(g(x | c); 0, I) + log|det ∂g/∂x|.
//
// Build one with RealNVPConfig.ContextDim or
// AutoregressiveFlowConfig.ContextDim, train it with TrainConfig.Context
// (maximum likelihood) or FitReverseKLGiven (amortised variational
// inference), and use the …Given methods: LogProbGiven, SampleGiven,
// SampleEach (k samples for each context row), GradLogProb (∂ log p/∂x and
// ∂ log p/∂c). See ExampleFlow_SampleEach.
//
// # Batches
//
// The API takes and returns gonum *mat.Dense matrices whose rows are
// samples. Internally a batch is a row-major []float64, and the Layer
// interface works on those slices with caller-owned workspaces, so that
// steady-state training, LogProb and Sample allocate nothing.
//
// # Training
//
// Every parameter of a flow lives in one flat vector (Flow.Params); each
// layer owns a window of it. MaxLikelihood differentiates the mean negative
// log-likelihood through Inverse; ReverseKL differentiates
// E_z[log q(f(z)) − log π(f(z))] through Forward for an unnormalised target
// π. Both write the gradient into a caller-owned vector of the same length,
// so an optimiser, or an all-reduce across machines, sees one vector. Fit,
// FitContext and FitReverseKL run Adam over minibatches.
//
// A minibatch is cut into shards of a fixed size that run on a pool of
// goroutines; each shard's loss and gradient go to buffers of its own and are
// summed in shard order, so results are bit-identical for any number of
// goroutines.
//
// # Gradients
//
// Every gradient is derived by hand and written next to its code, and the
// tests check each against central finite differences.
//
// # Design and references
//
// docs/design.md in the repository states the conventions and contracts in
// full (the layer contract, the kernel boundary, the parallel scheme, the
// failure policy), and FORMAT.md the model file format. The methods follow
// Dinh et al., "NICE" (2015) and "Density estimation using Real NVP" (2017);
// Germain et al., "MADE" (2015); Papamakarios et al., "Masked Autoregressive
// Flow for Density Estimation" (2017); Kingma et al., "Improved Variational
// Inference with Inverse Autoregressive Flow" (2016); Kingma and Dhariwal,
// "Glow: Generative Flow with Invertible 1x1 Convolutions" (2018); and Rezende and
// Mohamed, "Variational Inference with Normalizing Flows" (2015). The review
// of Papamakarios et al., "Normalizing Flows for Probabilistic Modeling and
// Inference" (2021), covers them all.
package flow
