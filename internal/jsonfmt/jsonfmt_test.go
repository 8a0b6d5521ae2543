// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package jsonfmt

import (
	"encoding/json"
	"testing"
)

func TestCompactNumberArrays(t *testing.T) {
	v := map[string]any{
		"a": []float64{1, -2.5, 1e-300},
		"b": [][]int{{1, 2}, {3}},
		"s": "[1,\n 2] \"[x]\"",
		"t": []string{"u", "v"},
		"e": []int{},
	}
	got, err := MarshalIndent(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "a": [1, -2.5, 1e-300],
  "b": [
    [1, 2],
    [3]
  ],
  "e": [],
  "s": "[1,\n 2] \"[x]\"",
  "t": [
    "u",
    "v"
  ]
}
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil {
		t.Errorf("the compacted JSON does not read: %v", err)
	}
}
