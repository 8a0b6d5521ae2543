// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestLU32 checks the LU layer's float32 passes against its float64 ones
// on the same parameters: random permutations and signs, random L and U
// (their strict parts in ±0.3), log|u_ii| in ±1, random bias, on row
// counts below, at and across the products' tiles.
func TestLU32(t *testing.T) {
	rnd := rand.New(rand.NewPCG(32, 12))
	for _, d := range []int{1, 2, 5, 12, 24} {
		signs := make([]int, d)
		for i := range signs {
			signs[i] = 1 - 2*rnd.IntN(2)
		}
		l := ftLU(t, LUConfig{Dim: d, Perm: rnd.Perm(d), Signs: signs})
		perturb(l.lower(), 0.3, rnd)
		perturb(l.upper(), 0.3, rnd)
		perturb(l.logDiag(), 1, rnd)
		perturb(l.bias(), 2, rnd)
		for _, n := range []int{1, 7, 37} {
			checkLayer32(t, fmt.Sprintf("lu/D=%d/n=%d", d, n), l, n, rnd)
		}
	}
}
