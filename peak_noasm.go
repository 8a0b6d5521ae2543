// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build purego || !(amd64 || arm64)

package flow

// peakLoop runs the plain-Go peak loop: without assembly the yardstick is
// the scalar arithmetic Go code reaches.
func peakLoop(n int) (flops, sum float64) { return peakLoopGo(n) }

// peakIterFlops is the flops of an iteration of the assembly loop; there
// is none.
var peakIterFlops = 0.0
