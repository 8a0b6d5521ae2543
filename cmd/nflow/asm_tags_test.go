// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

package main

// buildTags are the tags the command under test is built with: the same
// kernels as the test binary, so that their results agree bit for bit.
const buildTags = ""
