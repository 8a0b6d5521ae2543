// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build !purego

package flow

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGODEBUGFallback checks that GODEBUG=cpu.avx2=off (and cpu.fma=off)
// reaches the plain-Go fallback: golang.org/x/sys/cpu reads GODEBUG when
// the package starts, so kernUseAsm comes out false in a process started so.
func TestGODEBUGFallback(t *testing.T) {
	if os.Getenv("FLOW_GODEBUG_CHILD") == "1" {
		if kernUseAsm {
			t.Fatal("kernUseAsm is true under GODEBUG=" + os.Getenv("GODEBUG"))
		}
		return
	}
	for _, d := range []string{"cpu.avx2=off", "cpu.fma=off"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGODEBUGFallback$", "-test.v")
		cmd.Env = append(os.Environ(), "FLOW_GODEBUG_CHILD=1", "GODEBUG="+d)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PASS") {
			t.Fatalf("GODEBUG=%s: %v\n%s", d, err, out)
		}
	}
}

// kernHasTanhBits is true where tanhVec computes |x| < 0.625 with the same
// roundings as math.Tanh (amd64, where Go does not fuse multiply-adds).
const kernHasTanhBits = true
