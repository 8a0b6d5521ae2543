// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"math"
)

// Limits on what the constructors build. A configuration beyond them is an
// error that says how much it would need, never an int overflow inside a
// size or a fatal out-of-memory. Sizes are computed in float64, exact far
// beyond the limits and free of overflow for any int operands.
const (
	// maxDim bounds the dimension D of a layer or a flow, as the model
	// format bounds it.
	maxDim = maxFormatSize
	// maxParams bounds the parameters of a layer and of a flow: 2^28
	// float64 values, 2 GiB.
	maxParams = 1 << 28
	// maxWork bounds the workspace of one evaluation shard of evalShard
	// rows: a layer's, and a flow's with all its layers. 2^28 float64
	// values, 2 GiB.
	maxWork = 1 << 28
)

// checkDim returns an error unless 1 ≤ d ≤ maxDim (or 2 ≤ d when min is 2).
func checkDim(d, min int) error {
	if d < min {
		return fmt.Errorf("dimension %d < %d", d, min)
	}
	if d > maxDim {
		return fmt.Errorf("dimension %d is more than the limit of %d", d, maxDim)
	}
	return nil
}

// footprint is the memory a layer or a flow needs: its parameters and its
// workspace for evalShard rows, in float64 values.
type footprint struct {
	params, work float64
}

// add returns f + g.
func (f footprint) add(g footprint) footprint {
	return footprint{f.params + g.params, f.work + g.work}
}

// times returns k·f.
func (f footprint) times(k float64) footprint {
	return footprint{k * f.params, k * f.work}
}

// checkSize returns an error if the parameters or the workspace of s exceed
// the limits. what names the thing being built, as in "the layer".
func checkSize(what string, s footprint) error {
	params, work := s.params, s.work
	if params > maxParams {
		return fmt.Errorf("%s would need %.4g parameters (%s), more than the limit of %d (%s)", what, params, byteSize(8*params), maxParams, byteSize(8*maxParams))
	}
	if work > maxWork {
		return fmt.Errorf("%s would need a workspace of %.4g values (%s) for %d rows, more than the limit of %d (%s)", what, work, byteSize(8*work), evalShard, maxWork, byteSize(8*maxWork))
	}
	return nil
}

// byteSize writes a number of bytes in KiB, MiB, GiB and so on.
func byteSize(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
	u := 0
	for b >= 1024 && u < len(units)-1 {
		b /= 1024
		u++
	}
	if math.IsInf(b, 0) || b >= 1024 {
		return fmt.Sprintf("%.3g %s", b, units[u])
	}
	return fmt.Sprintf("%.4g %s", b, units[u])
}

// mlpSize returns the parameter count of a network from in inputs through
// the hidden widths to out outputs, and its workspace per row: every
// layer's output and two rows of the widest hidden layer (mlp.numParams and
// mlp.workLen(1); MADE.NumParams and MADE.workLen(1) have the same form).
func mlpSize(in int, hidden []int, out float64) (params, workRow float64) {
	prev, maxW := float64(in), 0.0
	for _, h := range hidden {
		fh := float64(h)
		params += fh*prev + fh
		workRow += fh
		maxW = math.Max(maxW, fh)
		prev = fh
	}
	params += out*prev + out
	return params, workRow + out + 2*maxW
}

// couplingSize returns the parameter count and the workspace for evalShard
// rows of a coupling layer with na pass-through and nb transformed
// dimensions, k parameters per transformed dimension and the given hidden
// widths (see Coupling.WorkLen), for a coupling function with the scratch
// of Affine and Additive, 2·nb values.
func couplingSize(na, nb, k int, hidden []int) footprint {
	return couplingSizeTmp(na, nb, k, 2*nb, hidden)
}

// couplingSizeTmp is couplingSize for a coupling function whose scratch is
// tmp values (couplingTmpLen).
func couplingSizeTmp(na, nb, k, tmp int, hidden []int) footprint {
	nt := float64(k) * float64(nb)
	params, w := mlpSize(na, hidden, nt)
	return footprint{params, evalShard*(2*float64(na)+w+nt) + 4*float64(nb) + float64(tmp)}
}

// madeSize returns the parameter count and the workspace for evalShard rows
// of a MADE of dimension d with the given hidden widths, or of an
// autoregressive layer around it when ar is true (see MADE.workLen and
// arLayer.WorkLen), without a context.
func madeSize(d int, hidden []int, ar bool) footprint {
	return madeContextSize(d, 0, hidden, ar)
}

// madeContextSize is madeSize with a context of dimension c: the first
// layer has d+c inputs, and an autoregressive layer keeps two more n×(d+c)
// buffers in place of two n×d ones (the MADE's input and its gradient).
func madeContextSize(d, c int, hidden []int, ar bool) footprint {
	return madeBlocksSize(d, c, hidden, 0, ar)
}

// madeNetSize returns the parameter count and the workspace per row of a
// MADE's network from in inputs to out outputs: mlpSize's for a plain
// MADE, resSize's for one of blocks > 0 residual blocks of width
// hidden[0] (MADE.workLen has the same form as the residual
// conditioner's).
func madeNetSize(in int, hidden []int, out float64, blocks int) (params, workRow float64) {
	if blocks > 0 {
		return resSize(in, hidden[0], blocks, out)
	}
	return mlpSize(in, hidden, out)
}

// madeBlocksSize is madeContextSize for a MADE of the given residual
// blocks (0: a plain MADE).
func madeBlocksSize(d, c int, hidden []int, blocks int, ar bool) footprint {
	fd, fc := float64(d), float64(c)
	params, w := madeNetSize(d+c, hidden, 2*fd, blocks)
	if ar {
		return footprint{params, evalShard*(w+6*fd+2*fc) + fd}
	}
	return footprint{params, evalShard * w}
}

// arLayerSize is madeBlocksSize(d, c, hidden, blocks, true) for an
// autoregressive layer whose element-wise map is the spline sp (nil: the
// affine map): its MADE has P·D outputs, P = sp.ParamsPerDim(), and the
// layer keeps, per row, the MADE's input and its gradient (d+c each), the
// output and one more row of d, ∂L/∂θ (P·D), each point's bin (binLen
// values a dimension), and one scratch of sp.tmpLen(d) + 2d values (see
// arLayer.WorkLen).
func arLayerSize(d, c int, hidden []int, blocks int, sp *RQSpline) footprint {
	if sp == nil {
		return madeBlocksSize(d, c, hidden, blocks, true)
	}
	fd, fc := float64(d), float64(c)
	no := float64(sp.ParamsPerDim()) * fd
	params, w := madeNetSize(d+c, hidden, no, blocks)
	return footprint{params, evalShard*(w+2*fd+no+2*(fd+fc)+binLen*fd) + float64(sp.tmpLen(d)) + 2*fd}
}

// flowWork returns the part of a flow's workspace for evalShard rows that
// is not its layers' (see Flow.newWorkspace): the batch at each of the
// layers+1 boundaries, two delta buffers and three per-row vectors.
func flowWork(d int, layers float64) footprint {
	return footprint{work: evalShard * ((layers+3)*float64(d) + 3)}
}
