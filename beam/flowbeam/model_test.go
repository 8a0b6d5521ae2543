// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/nfgo/flow"
)

// TestLoadModelInvalid checks that a model file that fails validation is
// an error when the pipeline is built: the decoder's, after the path.
func TestLoadModelInvalid(t *testing.T) {
	dir := t.TempDir()
	b, err := flow.MarshalFlow(testFlow(t, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{
		"version":   bytes.Replace(b, []byte(`"version": 1`), []byte(`"version": 2`), 1),
		"truncated": b[:len(b)/2],
		"dim":       bytes.Replace(b, []byte(`"dim": 2`), []byte(`"dim": 3`), 1),
	} {
		if bytes.Equal(doc, b) {
			t.Fatalf("%s: the edit did not change the model", name)
		}
		_, want := flow.UnmarshalFlow(doc)
		if want == nil {
			t.Fatalf("%s: UnmarshalFlow accepts the model", name)
		}
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := LoadModel(context.Background(), path)
		if m != nil || err == nil || err.Error() != path+": "+want.Error() {
			t.Errorf("%s: LoadModel = %v, %v; want the error %q", name, m, err, path+": "+want.Error())
		}
		var fe *flow.FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: the error %v is not a *flow.FormatError", name, err)
		}
	}
	if _, err := LoadModel(context.Background(), filepath.Join(dir, "missing.json")); err == nil {
		t.Error("LoadModel of a missing file: no error")
	}
}

// TestWorkerModel checks that a worker process reads a model file once,
// and that a file whose contents changed after the pipeline was built
// fails the pipeline.
func TestWorkerModel(t *testing.T) {
	dir := t.TempDir()
	m := writeModel(t, dir, testFlow(t, 2, 0))
	f1, err := workerModel(context.Background(), m.path, m.digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(m.path); err != nil {
		t.Fatal(err)
	}
	if f2, err := workerModel(context.Background(), m.path, m.digest); err != nil || f2 != f1 {
		t.Errorf("second workerModel = %p, %v; want the first's flow, %p", f2, err, f1)
	}

	m = writeModel(t, t.TempDir(), testFlow(t, 2, 0))
	p, s := beam.NewPipelineWithRoot()
	res, err := ScoreLines(s, m, Table{}, beam.Create(s, "1,2"), ScoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	textio.Write(s, filepath.Join(dir, "out"), beam.ParDo(s, formatScore, res.Scores))
	b, err := flow.MarshalFlow(testFlow(t, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = ptest.Run(p)
	if err == nil || !strings.Contains(err.Error(), m.path+" changed after the pipeline was built") {
		t.Errorf("pipeline with a changed model file: error %v, want one saying it changed", err)
	}
}
