// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/nfgo/flow/internal/golden"
)

// TestUpToDate checks that testdata/golden holds exactly the generator's
// cases with the generator's models, inputs and contexts, and values that
// agree with the generator's to the golden tolerance (golden.Agree): run go
// generate after changing them. (The package's TestGolden recomputes the
// values from the models.)
func TestUpToDate(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "golden")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var have, want []string
	for _, f := range files {
		have = append(have, filepath.Base(f))
	}
	for _, c := range Cases() {
		want = append(want, c.Name+".json")
		g, err := Generate(c, Seed(c.Name))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, c.Name+".json"))
		if err != nil {
			t.Errorf("%s: %v (run go generate)", c.Name, err)
			continue
		}
		var file golden.File
		if err := json.Unmarshal(b, &file); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var m1, m2 bytes.Buffer
		if err := json.Compact(&m1, g.Model); err != nil {
			t.Fatal(err)
		}
		if err := json.Compact(&m2, file.Model); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m1.Bytes(), m2.Bytes()) || !jsonEqual(t, g.X, file.X) || !jsonEqual(t, g.Base, file.Base) || !jsonEqual(t, g.Context, file.Context) || g.Description != file.Description {
			t.Errorf("%s: the file's model or inputs differ from the generator's: run go generate", c.Name)
		}
		gb, err := golden.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := golden.Agree(b, gb); err != nil {
			t.Errorf("%s: the file does not agree with the generator: %v (run go generate)", c.Name, err)
		}
	}
	sort.Strings(want)
	if !jsonEqual(t, have, want) {
		t.Errorf("golden files %v, the generator's cases %v", have, want)
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}
