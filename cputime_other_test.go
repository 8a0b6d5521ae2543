// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !unix

package flow

// processCPU reports that the process's CPU time is not measured here.
func processCPU() (float64, bool) { return 0, false }
