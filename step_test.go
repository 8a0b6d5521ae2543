// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestStepAfterPanic checks that a step after one that panicked in a shard,
// after an earlier shard had added its gradient, gives the gradient of a
// fresh objective bit for bit: the shards' gradient vectors, which the sum
// zeroes as it reads them, are cleared when the sum never ran.
func TestStepAfterPanic(t *testing.T) {
	f, err := NewRealNVP(RealNVPConfig{Dim: 3, Layers: 2, Hidden: []int{16}, Activation: Tanh, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(f, 0.2, 2)
	const n, shard = 150, 64
	z := mat.NewDense(n, 3, randomRows(n, 3, 3))
	calls, panicAt := 0, 100 // row 100 lies in the second shard
	target := func(g, x []float64) float64 {
		calls++
		if calls == panicAt {
			panic("target fails")
		}
		StdNormalGrad(g, x)
		return StdNormalLogProb(x)
	}
	obj := NewReverseKL(f, target, 1, shard)
	grad := make([]float64, f.NumParams())
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the target's panic did not reach the caller")
			}
		}()
		obj.LossGrad(grad, z)
	}()
	if calls < shard {
		t.Fatalf("the panic came after %d rows, before the first shard finished", calls)
	}
	panicAt = -1
	loss := obj.LossGrad(grad, z)
	want := make([]float64, f.NumParams())
	wantLoss := NewReverseKL(f, target, 1, shard).LossGrad(want, z)
	if math.Float64bits(loss) != math.Float64bits(wantLoss) {
		t.Errorf("loss %v after the panic, %v fresh", loss, wantLoss)
	}
	for j := range want {
		if math.Float64bits(grad[j]) != math.Float64bits(want[j]) {
			t.Fatalf("gradient %d: %v after the panic, %v fresh", j, grad[j], want[j])
		}
	}
}
