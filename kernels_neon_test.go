// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// neonBase holds the fixed bits of the NEON instructions that asm_arm64.s
// writes as WORDs, on .2D vectors (Q = 1, sz = 1; the .4S forms of the
// float32 kernels clear sz, bit 22), from the Arm Architecture Reference
// Manual (A64 "Advanced SIMD three same" and "two-reg misc", and the scalar
// pairwise FADDP); the register fields are zero.
var neonBase = map[string]struct {
	base uint32
	regs int // register operands: 3 (Vd, Vn, Vm), 2 (Vd, Vn) or 2 with #0.0
}{
	"fmul":   {0x6e60dc00, 3},
	"fadd":   {0x4e60d400, 3},
	"fsub":   {0x4ee0d400, 3},
	"fmax":   {0x4e60f400, 3},
	"fmin":   {0x4ee0f400, 3},
	"fcmgt":  {0x6ee0e400, 3},
	"fcmeq":  {0x4e60e400, 3},
	"fcmge":  {0x6e60e400, 3},
	"fdiv":   {0x6e60fc00, 3},
	"frintn": {0x4e618800, 2},
	"frintm": {0x4e619800, 2},
	"fneg":   {0x6ee0f800, 2},
	"fabs":   {0x4ee0f800, 2},
	"fsqrt":  {0x6ee1f800, 2},
	"faddp":  {0x7e70d800, 2}, // scalar: faddp Dd, Vn.2D
}

// neonZeroBase holds the compare-with-zero forms (Vd, Vn, #0.0).
var neonZeroBase = map[string]uint32{
	"fcmlt": 0x4ee0e800,
	"fcmle": 0x6ee0d800,
	"fcmeq": 0x4ee0d800,
}

var neonSyntax = regexp.MustCompile(`^(\w+) ([vd])(\d+)(?:\.(2d|4s))?, v(\d+)\.(2d|4s)(?:, v(\d+)\.(2d|4s)|, #0\.0)?$`)

// encodeNEON assembles one instruction of the forms asm_arm64.s uses.
func encodeNEON(text string) (uint32, error) {
	m := neonSyntax.FindStringSubmatch(text)
	if m == nil {
		return 0, fmt.Errorf("cannot parse %q", text)
	}
	// m: 1 the name, 2 v or d, 3 Vd, 4 Vd's arrangement, 5 Vn, 6 its
	// arrangement, 7 Vm, 8 its arrangement.
	if (m[2] == "d") != (m[1] == "faddp") || (m[2] == "d") != (m[4] == "") {
		return 0, fmt.Errorf("bad destination in %q", text)
	}
	single := m[6] == "4s"
	if m[4] != "" && m[4] != m[6] || m[8] != "" && m[8] != m[6] || single && m[1] == "faddp" {
		return 0, fmt.Errorf("mixed arrangements in %q", text)
	}
	op, ok := neonBase[m[1]]
	if strings.HasSuffix(text, "#0.0") {
		op.base, ok = neonZeroBase[m[1]]
		op.regs = 2
	}
	if !ok {
		return 0, fmt.Errorf("unknown instruction %q", text)
	}
	if (m[7] != "") != (op.regs == 3) {
		return 0, fmt.Errorf("wrong number of operands in %q", text)
	}
	reg := func(s string) uint32 {
		r, _ := strconv.Atoi(s)
		return uint32(r)
	}
	rd, rn := reg(m[3]), reg(m[5])
	if rd > 31 || rn > 31 {
		return 0, fmt.Errorf("bad register in %q", text)
	}
	w := op.base | rn<<5 | rd
	if single {
		w &^= 1 << 22 // sz: .4S, four float32 lanes
	}
	if op.regs == 3 {
		rm := reg(m[7])
		if rm > 31 {
			return 0, fmt.Errorf("bad register in %q", text)
		}
		w |= rm << 16
	}
	return w, nil
}

// TestNEONEncoder checks the encoder against words from GNU as 2.40
// (aarch64-linux-gnu-as, disassembled by objdump).
func TestNEONEncoder(t *testing.T) {
	for _, c := range []struct {
		text string
		word uint32
	}{
		{"fmul v1.2d, v2.2d, v3.2d", 0x6e63dc41},
		{"fadd v1.2d, v2.2d, v3.2d", 0x4e63d441},
		{"fsub v1.2d, v2.2d, v3.2d", 0x4ee3d441},
		{"fmax v1.2d, v2.2d, v3.2d", 0x4e63f441},
		{"fmin v1.2d, v2.2d, v3.2d", 0x4ee3f441},
		{"fcmgt v1.2d, v2.2d, v3.2d", 0x6ee3e441},
		{"fcmeq v1.2d, v2.2d, v3.2d", 0x4e63e441},
		{"frintn v1.2d, v2.2d", 0x4e618841},
		{"frintm v1.2d, v2.2d", 0x4e619841},
		{"fneg v1.2d, v2.2d", 0x6ee0f841},
		{"fcmlt v1.2d, v2.2d, #0.0", 0x4ee0e841},
		{"fcmle v1.2d, v2.2d, #0.0", 0x6ee0d841},
		{"faddp d1, v2.2d", 0x7e70d841},
		{"fdiv v1.2d, v2.2d, v3.2d", 0x6e63fc41},
		{"fabs v1.2d, v2.2d", 0x4ee0f841},
		{"fcmge v1.2d, v2.2d, v3.2d", 0x6e63e441},
		{"fcmeq v1.2d, v2.2d, #0.0", 0x4ee0d841},
		{"fsqrt v1.2d, v2.2d", 0x6ee1f841}, // llvm-mc 14.0.6 -triple=aarch64 -show-encoding
		// The .4S forms (float32 lanes, sz = 0), from llvm-mc as above.
		{"fmax v1.4s, v0.4s, v8.4s", 0x4e28f401},
		{"fmin v1.4s, v1.4s, v9.4s", 0x4ea9f421},
		{"fmul v2.4s, v1.4s, v10.4s", 0x6e2adc22},
		{"frintn v2.4s, v2.4s", 0x4e218842},
		{"frintm v6.4s, v6.4s", 0x4e2198c6},
		{"fsub v2.4s, v2.4s, v6.4s", 0x4ea6d442},
		{"fadd v6.4s, v6.4s, v25.4s", 0x4e39d4c6},
		{"fcmeq v6.4s, v0.4s, v0.4s", 0x4e20e406},
	} {
		w, err := encodeNEON(c.text)
		if err != nil || w != c.word {
			t.Errorf("%s: %#08x, %v; want %#08x", c.text, w, err, c.word)
		}
	}
}

// TestNEONEncodings re-encodes the instruction in the comment of every WORD
// in asm_arm64.s and compares it with the word.
func TestNEONEncodings(t *testing.T) {
	src, err := os.ReadFile("asm_arm64.s")
	if err != nil {
		t.Fatal(err)
	}
	word := regexp.MustCompile(`^\s*WORD\s+\$0x([0-9a-fA-F]{8})\s*//\s*(.*?)\s*$`)
	n := 0
	for i, line := range strings.Split(string(src), "\n") {
		if !strings.Contains(line, "WORD") || strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		m := word.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("asm_arm64.s:%d: WORD without its instruction: %s", i+1, line)
			continue
		}
		got, _ := strconv.ParseUint(m[1], 16, 32)
		want, err := encodeNEON(m[2])
		if err != nil {
			t.Errorf("asm_arm64.s:%d: %v", i+1, err)
			continue
		}
		if uint32(got) != want {
			t.Errorf("asm_arm64.s:%d: %s is %#08x, not %#08x", i+1, m[2], want, got)
		}
		n++
	}
	if n == 0 {
		t.Error("no WORD found in asm_arm64.s")
	}
	t.Logf("%d WORDs checked", n)
}
