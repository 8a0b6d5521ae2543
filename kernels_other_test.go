// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build purego || !(amd64 || arm64)

package flow

// kernHasTanhBits is true where tanhVec computes |x| < 0.625 with the same
// roundings as math.Tanh: trivially where it is math.Tanh.
const kernHasTanhBits = true
