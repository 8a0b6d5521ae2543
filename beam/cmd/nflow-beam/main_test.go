// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nfgo/flow"
)

// The tests run the commands as separate processes: nflow-beam, built from
// this directory, and the core's nflow, built from the repository root, as
// the reference.
var nflowBeam, nflow string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nflow-beam-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nflowBeam, nflow = filepath.Join(dir, "nflow-beam"), filepath.Join(dir, "nflow")
	for _, b := range []struct{ dir, out, pkg string }{
		{".", nflowBeam, "."},
		{"../../..", nflow, "./cmd/nflow"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.out, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a command did.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the binary bin with args.
func runCmd(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs bin with args and fails the test unless it succeeds.
func mustRun(t *testing.T, bin string, args ...string) result {
	t.Helper()
	r := runCmd(t, bin, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit status %d\n%s", filepath.Base(bin), strings.Join(args, " "), r.code, lastLines(r.stderr, 30))
	}
	return r
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// fileLines returns the lines of a file.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// writeFile writes lines to a file in dir.
func writeFile(t *testing.T, dir, name string, lines []string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// saveModel writes f, its parameters moved off their initial values so
// that no layer is the identity, to a model file in dir.
func saveModel(t *testing.T, dir, name string, f *flow.Flow, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	p := f.Params()
	rnd := rand.New(rand.NewPCG(4, 5))
	for i := range p {
		p[i] += 0.2 * rnd.NormFloat64()
	}
	f.SetParams(p)
	b, err := flow.MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// logprobRef returns nflow logprob's output for each data line of in: the
// map from a line to the number nflow logprob writes for it.
func logprobRef(t *testing.T, model, in string) map[string]string {
	t.Helper()
	ref := filepath.Join(t.TempDir(), "ref.csv")
	mustRun(t, nflow, "logprob", "-model", model, "-in", in, "-out", ref)
	want := fileLines(t, ref)
	data := fileLines(t, in)
	if want[0] != "logp" || len(want) != len(data) {
		t.Fatalf("nflow logprob wrote %d lines starting %q for %d lines of data with a header", len(want), want[0], len(data))
	}
	m := make(map[string]string)
	for i, line := range data[1:] {
		m[line] = want[i+1]
	}
	return m
}

// beamScores returns nflow-beam score's output lines split into the row's
// line and its number at the last separator sep.
func beamScores(t *testing.T, path string, sep string) map[string]string {
	t.Helper()
	m := make(map[string]string)
	for _, l := range fileLines(t, path) {
		i := strings.LastIndex(l, sep)
		if i < 0 {
			t.Fatalf("output line %q has no separator", l)
		}
		if _, ok := m[l[:i]]; ok {
			t.Fatalf("row %q twice in the output", l[:i])
		}
		m[l[:i]] = l[i+1:]
	}
	return m
}

// TestScoreMatchesLogprob scores files of samples from a Real NVP, a MAF,
// a spline flow and a conditional Real NVP whose file names its columns in
// another order, with nflow-beam score in batches of 100 rows and with
// nflow logprob, and requires the same number for every row, as written.
func TestScoreMatchesLogprob(t *testing.T) {
	dir := t.TempDir()
	realnvp, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 2, Layers: 4, Hidden: []int{32, 32}, Activation: flow.Tanh, Clamp: 3, Seed: 1})
	rnvp := saveModel(t, dir, "realnvp.json", realnvp, err)
	maf, err := flow.NewMAFFlow(flow.AutoregressiveFlowConfig{Dim: 5, Layers: 3, Hidden: []int{32, 32}, Activation: flow.ReLU, Clamp: 3, Seed: 2})
	mafPath := saveModel(t, dir, "maf.json", maf, err)
	nsf, err := flow.NewNSF(flow.NSFConfig{Dim: 3, Layers: 3, Hidden: []int{16}, Activation: flow.Tanh, Seed: 3})
	nsfPath := saveModel(t, dir, "nsf.json", nsf, err)

	for _, model := range []string{rnvp, mafPath, nsfPath} {
		t.Run(filepath.Base(model), func(t *testing.T) {
			data := filepath.Join(dir, filepath.Base(model)+".csv")
			mustRun(t, nflow, "sample", "-model", model, "-n", "3000", "-seed", "5", "-out", data)
			want := logprobRef(t, model, data)
			out := filepath.Join(dir, filepath.Base(model)+".scores")
			r := mustRun(t, nflowBeam, "score", "-model", model, "-in", data, "-out", out, "-batch", "100")
			got := beamScores(t, out, ",")
			if len(got) != len(want) {
				t.Errorf("%d rows scored, want %d", len(got), len(want))
			}
			for line, w := range want {
				if got[line] != w {
					t.Fatalf("row %q: nflow-beam %q, nflow logprob %q", line, got[line], w)
				}
			}
			if bad := fileLines(t, out+".bad.jsonl"); len(bad) != 0 {
				t.Errorf("bad rows: %q", bad)
			}
			if want := fmt.Sprintf("%d rows scored into %s, 0 bad rows into %s.bad.jsonl", len(want), out, out); !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, lastLines(r.stderr, 5))
			}
		})
	}

	t.Run("context", func(t *testing.T) {
		f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 2, Layers: 4, Hidden: []int{16}, Activation: flow.Tanh, Clamp: 3, Seed: 4, ContextDim: 1})
		if err == nil {
			err = f.SetNames([]string{"a", "b"})
		}
		if err == nil {
			err = f.SetContextNames([]string{"r"})
		}
		model := saveModel(t, dir, "cond.json", f, err)
		rnd := rand.New(rand.NewPCG(6, 7))
		lines := []string{"r;b;a"}
		for range 2000 {
			lines = append(lines, fmt.Sprintf("%v;%v;%v", rnd.Float64(), rnd.NormFloat64(), rnd.NormFloat64()))
		}
		data := writeFile(t, dir, "cond.csv", lines)
		want := logprobRef(t, model, data)
		out := filepath.Join(dir, "cond.scores")
		mustRun(t, nflowBeam, "score", "-model", model, "-in", data, "-out", out)
		got := beamScores(t, out, ";")
		if len(got) != len(want) {
			t.Errorf("%d rows scored, want %d", len(got), len(want))
		}
		for line, w := range want {
			if got[line] != w {
				t.Fatalf("row %q: nflow-beam %q, nflow logprob %q", line, got[line], w)
			}
		}
	})
}

// TestScoreBadRows scores a file with bad rows among good ones: the good
// rows get nflow logprob's numbers for the same rows without the bad ones,
// and the bad rows go to -bad with their reasons.
func TestScoreBadRows(t *testing.T) {
	dir := t.TempDir()
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Activation: flow.Tanh, Clamp: 3, Seed: 1})
	model := saveModel(t, dir, "model.json", f, err)
	clean := filepath.Join(dir, "clean.csv")
	mustRun(t, nflow, "sample", "-model", model, "-n", "500", "-out", clean)
	want := logprobRef(t, model, clean)

	bad := map[string]string{
		"1,2,3":    "3 columns, want 2",
		"1,x":      `column 2: "x" is not a number`,
		"NaN,1":    "column 1: NaN is not a finite number",
		"1e999,1":  `column 1: "1e999" is out of the range of float64`,
		"x,y,z":    "3 columns, want 2",
		`"1,2`:     `character 5: extraneous or missing " in quoted-field`,
		"1,2 # no": `column 2: "2 # no" is not a number`,
	}
	lines := fileLines(t, clean)
	dirty := lines[:1:1]
	k := 0
	for line := range bad {
		dirty = append(dirty, lines[1+k*50:1+(k+1)*50]...)
		dirty = append(dirty, line)
		k++
	}
	dirty = append(dirty, lines[1+k*50:]...)
	data := writeFile(t, dir, "dirty.csv", dirty)
	out, badOut := filepath.Join(dir, "scores.csv"), filepath.Join(dir, "bad.jsonl")
	r := mustRun(t, nflowBeam, "score", "-model", model, "-in", data, "-out", out, "-bad", badOut)

	got := beamScores(t, out, ",")
	if len(got) != len(want) {
		t.Errorf("%d rows scored, want %d", len(got), len(want))
	}
	for line, w := range want {
		if got[line] != w {
			t.Fatalf("row %q: nflow-beam %q, nflow logprob %q", line, got[line], w)
		}
	}
	gotBad := make(map[string]string)
	for _, l := range fileLines(t, badOut) {
		var b struct{ Line, Reason string }
		if err := json.Unmarshal([]byte(l), &b); err != nil {
			t.Fatalf("bad row %q: %v", l, err)
		}
		gotBad[b.Line] = b.Reason
	}
	for line, reason := range bad {
		if gotBad[line] != reason {
			t.Errorf("bad row %q: reason %q, want %q", line, gotBad[line], reason)
		}
	}
	if len(gotBad) != len(bad) {
		t.Errorf("%d bad rows, want %d", len(gotBad), len(bad))
	}
	if want := fmt.Sprintf("%d rows scored into %s, %d bad rows into %s", len(want), out, len(bad), badOut); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, lastLines(r.stderr, 5))
	}
}

// TestScoreRefused checks that a model file that fails validation, and a
// header that does not fit the model, stop nflow-beam before its pipeline
// runs, with the error nflow logprob gives, and write nothing.
func TestScoreRefused(t *testing.T) {
	dir := t.TempDir()
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{8}, Activation: flow.Tanh, Seed: 1})
	if err == nil {
		err = f.SetNames([]string{"x1", "x2"})
	}
	model := saveModel(t, dir, "model.json", f, err)
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, bytes.Replace(b, []byte(`"layers"`), []byte(`"layer"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	data := writeFile(t, dir, "data.csv", []string{"x1,x2", "1,2"})
	other := writeFile(t, dir, "other.csv", []string{"x1,y", "1,2"})
	wide := writeFile(t, dir, "wide.csv", []string{"1,2,3"})
	for _, test := range []struct {
		model, in string
	}{
		{corrupt, data},
		{model, other},
		{model, wide},
	} {
		out := filepath.Join(dir, "out.csv")
		r := runCmd(t, nflowBeam, "score", "-model", test.model, "-in", test.in, "-out", out)
		ref := runCmd(t, nflow, "logprob", "-model", test.model, "-in", test.in, "-out", out)
		if ref.code != 1 || r.code != 1 {
			t.Fatalf("%s on %s: exit status %d (nflow logprob %d), want 1", test.model, test.in, r.code, ref.code)
		}
		msg := strings.TrimPrefix(strings.TrimSpace(ref.stderr), "nflow logprob: ")
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, test.in+": "), test.in+" ")
		if !strings.HasPrefix(r.stderr, "nflow-beam score: ") || !strings.HasSuffix(strings.TrimSpace(r.stderr), msg) {
			t.Errorf("%s on %s: nflow-beam says %q, want the message of nflow logprob, %q", test.model, test.in, r.stderr, msg)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s on %s: %s written", test.model, test.in, out)
		}
	}
}

// TestSampleShards draws samples with 1 and 5 shards and requires the same
// rows, written as nflow sample writes numbers.
func TestSampleShards(t *testing.T) {
	dir := t.TempDir()
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 3, Layers: 4, Hidden: []int{16}, Activation: flow.Tanh, Clamp: 3, Seed: 1})
	model := saveModel(t, dir, "model.json", f, err)
	const n = 10000
	var outs [][]string
	for _, shards := range []string{"1", "5"} {
		out := filepath.Join(dir, "samples"+shards)
		r := mustRun(t, nflowBeam, "sample", "-model", model, "-n", strconv.Itoa(n), "-seed", "3", "-logq", "-shards", shards, "-out", out)
		if want := fmt.Sprintf("%d samples written to %s", n, out); !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q", want)
		}
		lines := fileLines(t, out)
		if len(lines) != n {
			t.Fatalf("-shards %s: %d rows, want %d", shards, len(lines), n)
		}
		for _, l := range lines {
			fields := strings.Split(l, ",")
			if len(fields) != 4 {
				t.Fatalf("-shards %s: row %q has %d fields, want 4", shards, l, len(fields))
			}
			for _, s := range fields {
				v, err := strconv.ParseFloat(s, 64)
				if err != nil || strconv.FormatFloat(v, 'g', -1, 64) != s {
					t.Fatalf("-shards %s: %q is not a number in its shortest form", shards, s)
				}
			}
		}
		slices.Sort(lines)
		outs = append(outs, lines)
	}
	if !slices.Equal(outs[0], outs[1]) {
		t.Error("-shards 1 and -shards 5 draw different rows")
	}
}

// TestUsage checks the exit status 2 of bad command lines.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"fit"},
		{"score"},
		{"score", "-model", "m.json", "-in", "x.csv"},
		{"score", "-model", "m.json", "-in", "x.csv", "-out", "x.csv"},
		{"score", "-model", "m.json", "-in", "x.csv", "-out", "y.csv", "-batch", "-1"},
		{"score", "-model", "m.json", "-in", "x.csv", "-out", "y.csv", "extra"},
		{"sample", "-model", "m.json", "-out", "y.csv", "-n", "0"},
		{"sample", "-model", "m.json", "-out", "y.csv", "-bad", "z"},
		{"sample", "-out", "y.csv"},
	} {
		if r := runCmd(t, nflowBeam, args...); r.code != 2 {
			t.Errorf("nflow-beam %s: exit status %d, want 2\n%s", strings.Join(args, " "), r.code, lastLines(r.stderr, 3))
		}
	}
}
