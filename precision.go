// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

// layer32 is a layer that also computes in float32 (docs/design.md §4):
// its passes over float32 rows with the parameters p, the layer's window of
// a Flow32's float32 vector. Each is the same source as the float64 method
// of its name, instantiated for float32; the work it takes is WorkLen(n)
// float32 values.
type layer32 interface {
	Layer
	forward32(p, x, z, ctx, logdet, work []float32)
	inverse32(p, z, x, ctx, logdet, work []float32)
	inverseBackward32(p, dx, dc, dz, dld, x, z, ctx, work, grad []float32)
}

func (c *Coupling) forward32(p, x, z, ctx, logdet, work []float32) {
	checkRows("Coupling.Forward", c.d, logdet, x, z)
	couplingCheckContext(c, "Coupling.Forward", "context", ctx, len(logdet))
	couplingPass(c, p, x, z, ctx, logdet, work, true, dropout{})
}

func (c *Coupling) inverse32(p, z, x, ctx, logdet, work []float32) {
	checkRows("Coupling.Inverse", c.d, logdet, x, z)
	couplingCheckContext(c, "Coupling.Inverse", "context", ctx, len(logdet))
	couplingPass(c, p, z, x, ctx, logdet, work, false, dropout{})
}

func (c *Coupling) inverseBackward32(p, dx, dc, dz, dld, x, z, ctx, work, grad []float32) {
	couplingBackward(c, p, "Coupling.InverseBackward", dx, dc, dz, dld, x, z, work, grad, false, dropout{})
}

func (p *Permutation) forward32(_, x, z, _, logdet, _ []float32) {
	checkRows("Permutation.Forward", len(p.perm), logdet, x, z)
	gatherRows(x, z, p.perm)
}

func (p *Permutation) inverse32(_, z, x, _, logdet, _ []float32) {
	checkRows("Permutation.Inverse", len(p.perm), logdet, x, z)
	gatherRows(z, x, p.inv)
}

func (p *Permutation) inverseBackward32(_, dx, _, dz, _, _, _, _, _, _ []float32) {
	gatherRows(dx, dz, p.perm)
}
