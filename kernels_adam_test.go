// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestKernelAdam checks adamStep against adamRef on every length 0 … 3w+1
// and longer ones, with the moments' and parameters' neighbours guarded,
// zero second moments and gradients among the values, with and without
// weight decay. The assembly does the reference's operations in its
// order, none fused: on amd64, where the compiler fuses none either, the
// two agree bit for bit; on arm64, whose compiler fuses a·b + c, they agree
// to the rounding of the operands.
func TestKernelAdam(t *testing.T) {
	exact := runtime.GOARCH == "amd64"
	forEachPath(t, func(t *testing.T) {
		rnd := rand.New(rand.NewPCG(31, 32))
		for _, wd := range []float64{0, 0.01} {
			for _, n := range affineLengths() {
				name := fmt.Sprintf("n=%d, λ=%v", n, wd)
				p, m, v, g := randGuarded(rnd, n), randGuarded(rnd, n), randGuarded(rnd, n), randGuarded(rnd, n)
				for i := range v.s() {
					v.s()[i] = math.Abs(v.s()[i]) * 1e-3
				}
				for i := 0; i < n; i += 5 {
					v.s()[i], g.s()[i] = 0, 0 // √v = 0: the step is step·m/ε
				}
				lr, t3 := 1e-3, 3.0
				c := adamConsts{0.9, 1 - 0.9, 0.999, 1 - 0.999, lr / (1 - math.Pow(0.9, t3)), 1 / math.Sqrt(1-math.Pow(0.999, t3)), 1e-8, lr * wd}
				p0 := append([]float64(nil), p.s()...)
				wp, wm, wv := append([]float64(nil), p.s()...), append([]float64(nil), m.s()...), append([]float64(nil), v.s()...)
				m0 := append([]float64(nil), m.s()...)
				adamRef(wp, wm, wv, g.s(), &c)
				adamStep(p.s(), m.s(), v.s(), g.s(), &c)
				for _, b := range []struct {
					what string
					buf  *guarded
				}{{"p", p}, {"m", m}, {"v", v}, {"g", g}} {
					b.buf.check(t, name+" "+b.what)
				}
				u := 0x1p-53
				for i := 0; i < n; i++ {
					got := [3]float64{p.s()[i], m.s()[i], v.s()[i]}
					want := [3]float64{wp[i], wm[i], wv[i]}
					// The sizes of the operands of each result.
					size := [3]float64{
						math.Abs(p0[i]) + math.Abs(p0[i]-wp[i]),
						math.Abs(0.9*m0[i]) + math.Abs(0.1*g.s()[i]),
						math.Abs(wv[i]),
					}
					for k, what := range []string{"p", "m", "v"} {
						if exact {
							if math.Float64bits(got[k]) != math.Float64bits(want[k]) {
								t.Fatalf("%s: %s[%d] = %v, want %v bit for bit", name, what, i, got[k], want[k])
							}
							continue
						}
						if !(math.Abs(got[k]-want[k]) <= 16*u*size[k]) {
							t.Fatalf("%s: %s[%d] = %v, want %v", name, what, i, got[k], want[k])
						}
					}
				}
			}
		}
	})
}
