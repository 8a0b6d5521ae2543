// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !race

package flow

// kernRaceEnabled is true under the race detector, which makes sync.Pool drop
// items at random.
const kernRaceEnabled = false
