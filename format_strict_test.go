// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"errors"
	"os"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// formatSection returns the text of FORMAT.md from the heading that starts
// with title up to the next heading.
func formatSection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n"+title)
	if i < 0 {
		t.Fatalf("FORMAT.md has no heading %q", title)
	}
	s := doc[i+1:]
	if j := strings.Index(s[1:], "\n#"); j >= 0 {
		s = s[:j+1]
	}
	return s
}

// formatRow returns the row of the field name in the first table of a
// FORMAT.md section.
func formatRow(t *testing.T, section, name string) string {
	t.Helper()
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `"+name+"`") {
			return line
		}
	}
	t.Fatalf("no row for %q in\n%s", name, section)
	return ""
}

// wantFormatError checks that UnmarshalFlow rejects doc with a FormatError
// at path whose message contains msg.
func wantFormatError(t *testing.T, name string, doc []byte, path, msg string) {
	t.Helper()
	f, err := UnmarshalFlow(doc)
	if err == nil {
		t.Errorf("%s: accepted: %v", name, f)
		return
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Errorf("%s: error %v is %T, not a *FormatError", name, err, err)
		return
	}
	if fe.Path != path || !strings.Contains(fe.Msg, msg) {
		t.Errorf("%s: got path %q message %q\nwant path %q message containing %q", name, fe.Path, fe.Msg, path, msg)
	}
}

// TestFormatConditionerMask checks FORMAT.md §3.1: a mask is a field of a
// MADE's dense layers only; on a coupling conditioner's it is an error, not
// silently ignored.
func TestFormatConditionerMask(t *testing.T) {
	doc := ftValidDoc(t)
	bad := ftEdit(t, doc, func(m map[string]any) {
		ftLayer(m, 0)["conditioner"].([]any)[0].(map[string]any)["mask"] = []any{1, 1, 1, 1, 1, 1, 1, 1}
	})
	wantFormatError(t, "mask on a conditioner", bad, "layers[0].conditioner[0].mask", "not a field of a conditioner's dense layer")
	row := formatRow(t, formatSection(t, "### 3.1"), "mask")
	if !strings.Contains(row, "a `mask` there is an error") {
		t.Errorf("FORMAT.md §3.1 does not say that a mask on a conditioner is an error: %s", row)
	}
}

// TestFormatAdditiveClamp checks FORMAT.md §3.2: an additive coupling has no
// clamp; the writer leaves it out and the reader refuses one, even 0.
func TestFormatAdditiveClamp(t *testing.T) {
	f := ftFlow(t, ftCoupling(t, CouplingConfig{Mask: []bool{true, false, true}, Hidden: []int{3}, Activation: Tanh, Func: Additive{}}))
	randomizeParams(f, 0.5, 2)
	doc, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), `"clamp"`) {
		t.Errorf("MarshalFlow writes a clamp on an additive coupling:\n%s", doc)
	}
	if _, err := UnmarshalFlow(doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []any{0, 0.0, 1.5} {
		bad := ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["clamp"] = c })
		wantFormatError(t, "clamp on an additive coupling", bad, "layers[0].clamp", "not a field of an additive coupling")
	}
	row := formatRow(t, formatSection(t, "### 3.2"), "clamp")
	if !strings.Contains(row, "present even as 0 it is an error") {
		t.Errorf("FORMAT.md §3.2 does not say that a clamp on an additive coupling is an error even as 0: %s", row)
	}
}

// TestFormatMADEWithoutHidden checks FORMAT.md §3.3: a MADE without hidden
// layers has no degrees (absent or empty), and one with hidden layers must
// have them.
func TestFormatMADEWithoutHidden(t *testing.T) {
	f := ftFlow(t, ftMAF(t, AutoregressiveConfig{Dim: 3, Activation: ReLU, Order: ReversedOrder}))
	randomizeParams(f, 0.5, 3)
	zeroMasked(f)
	doc, err := MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), `"degrees"`) || strings.Contains(string(doc), `"hidden"`) {
		t.Errorf("MarshalFlow writes hidden or degrees for a MADE without hidden layers:\n%s", doc)
	}
	x := mat.NewDense(4, 3, randomRows(4, 3, 5))
	want := f.LogProb(nil, x)
	for name, d := range map[string][]byte{
		"absent": doc,
		"empty":  ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["degrees"] = []any{}; ftLayer(m, 0)["hidden"] = []any{} }),
	} {
		g, err := UnmarshalFlow(d)
		if err != nil {
			t.Errorf("degrees %s: %v", name, err)
			continue
		}
		if got := g.LogProb(nil, x); maxAbsDiff(got, want) != 0 {
			t.Errorf("degrees %s: log p %v, want %v", name, got, want)
		}
	}
	wantFormatError(t, "degrees without hidden layers", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 0)["degrees"] = []any{[]any{1, 2}} }),
		"layers[0].degrees", "1 lists, want one per hidden layer, 0")

	hdoc, _, _ := mafDoc(t)
	wantFormatError(t, "hidden layers without degrees", ftEdit(t, hdoc, func(m map[string]any) { delete(ftLayer(m, 0), "degrees") }),
		"layers[0].degrees", "missing: want one list per hidden layer, 2")

	row := formatRow(t, formatSection(t, "### 3.3"), "degrees")
	if !strings.Contains(row, "Required when `hidden` is not empty") || !strings.Contains(row, "absent (or empty) when there are no hidden layers") {
		t.Errorf("FORMAT.md §3.3 does not say when degrees may be absent: %s", row)
	}
}

// TestFormatSizeLimits checks that the reader applies the constructors'
// size limits before it allocates a layer, naming the hidden widths.
func TestFormatSizeLimits(t *testing.T) {
	doc := ftValidDoc(t)
	wantFormatError(t, "huge coupling", ftEdit(t, doc, func(m map[string]any) { ftLayer(m, 2)["hidden"] = []any{1 << 24, 1 << 24} }),
		"layers[2].hidden", "would need")
	mdoc, _, _ := mafDoc(t)
	wantFormatError(t, "huge MADE", ftEdit(t, mdoc, func(m map[string]any) { ftLayer(m, 0)["hidden"] = []any{1 << 24, 1 << 24} }),
		"layers[0].hidden", "would need")
	wantFormatError(t, "too wide", ftEdit(t, mdoc, func(m map[string]any) { ftLayer(m, 0)["hidden"] = []any{1<<24 + 1} }),
		"layers[0].hidden[0]", "not in [1, 16777216]")
}
