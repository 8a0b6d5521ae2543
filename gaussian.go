// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math/rand/v2"
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
