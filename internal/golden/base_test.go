// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package golden

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDocParamsBase: a model document's parameters are the layers' and
// then the base's, in the order of the flat parameter vector, so that
// Agree compares a gradient of the base's parameters too.
func TestDocParamsBase(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want []float64
	}{
		{`{"base":{"type":"std_normal"},"layers":[{"conditioner":[{"weights":[1],"biases":[2]}]}]}`, []float64{1, 2}},
		{`{"base":{"type":"diag_normal","mean":[3,4],"log_std":[5,6]},"layers":[{"conditioner":[{"weights":[1],"biases":[2]}]}]}`, []float64{1, 2, 3, 4, 5, 6}},
		{`{"base":{"type":"diag_normal_mixture","components":2,"logits":[3,4],"means":[5,6],"log_stds":[7,8]},"layers":[{"made":[{"weights":[1],"biases":[2]}]}]}`, []float64{1, 2, 3, 4, 5, 6, 7, 8}},
		{`{"base":{"type":"conditional_diag_normal","network":[{"weights":[3],"biases":[4]},{"weights":[5,6],"biases":[7,8]}]},"layers":[{"type":"inverse","layer":{"made":[{"weights":[1],"biases":[2]}]}}]}`, []float64{1, 2, 3, 4, 5, 6, 7, 8}},
	} {
		got, err := docParams(json.RawMessage(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := Compare(got, tc.want); err != nil || len(got) != len(tc.want) {
			t.Errorf("%s: parameters %v, want %v", tc.doc, got, tc.want)
		}
	}
	model := `{"base":{"type":"diag_normal","mean":[3,4],"log_std":[5,6]},"layers":[{"conditioner":[{"weights":[1],"biases":[2]}]}]}`
	nll := 1.0
	a := File{Name: "a", Model: json.RawMessage(model), NLL: &nll, NLLGrad: json.RawMessage(model)}
	b := a
	b.NLLGrad = json.RawMessage(strings.Replace(model, "[5,6]", "[5,6.001]", 1))
	ea, err := Marshal(&a)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := Agree(ea, eb); err == nil || !strings.Contains(err.Error(), "nll_grad: [5]") {
		t.Errorf("a base gradient that differs: %v, want an error naming nll_grad[5]", err)
	}
}
