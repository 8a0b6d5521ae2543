// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// epochLines counts the progress lines in a fit's standard error.
func epochLines(stderr string) int {
	return len(regexp.MustCompile(`(?m)^epoch +\d+/\d+ `).FindAllString(stderr, -1))
}

// validRows reads the data file name and returns the rows that fit holds
// out for validation with -valid 0.1 and -seed 1, and the others.
func validRows(t *testing.T, name string) (train, valid *mat.Dense) {
	t.Helper()
	data, _, err := readCSV(name)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := data.Dims()
	ti, vi, err := splitIndex(n, 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return pickRows(data, ti), pickRows(data, vi)
}

// nllOf returns the mean negative log-likelihood of the rows of x under f,
// formatted as fit prints it.
func nllOf(f interface {
	LogProb([]float64, mat.Matrix) []float64
}, x mat.Matrix) string {
	m, _ := meanSE(f.LogProb(nil, x))
	return fmt.Sprintf("%.4f", -m)
}

// TestFitDiverges: a run whose loss stops being finite saves the best model
// (here the untrained one), says which epoch diverged and what to change,
// and exits 1.
func TestFitDiverges(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	moonsCSV(t, data, 200, 1)
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "m.json", "-epochs", "30", "-layers", "2", "-hidden", "8",
		"-act", "relu", "-clamp", "0", "-lr", "3", "-batch", "32")
	if r.code != 1 {
		t.Fatalf("status %d, want 1\n%s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`training diverged in epoch (\d+): .*saved the best model \(the untrained model, validation NLL ([0-9.]+)\) to m\.json; try a lower -lr \(this run: 3\) or a -clamp`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no word of the divergence, the model saved and what to change:\n%s", r.stderr)
	}
	if e, _ := strconv.Atoi(m[1]); e != epochLines(r.stderr)+1 {
		t.Errorf("diverged in epoch %d after %d epoch lines", e, epochLines(r.stderr))
	}
	f := loadFlow(t, filepath.Join(dir, "m.json"))
	_, valid := validRows(t, data)
	if got := nllOf(f, valid); got != m[2] {
		t.Errorf("the saved model's validation NLL is %s, the message says %s", got, m[2])
	}
	x, _, _ := readCSV(data)
	for i, v := range f.LogProb(nil, x) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("the saved model gives row %d log p = %v", i, v)
		}
	}
}

// TestFitUntrainedBest: a run that only got worse saves the untrained
// model and says so, with exit status 0.
func TestFitUntrainedBest(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	moonsCSV(t, data, 200, 2)
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "m.json", "-epochs", "4", "-layers", "2", "-hidden", "8", "-lr", "10", "-batch", "32")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`(?m)^untrained model: valid NLL +([0-9.]+)$`).FindStringSubmatch(r.stderr)
	if m == nil || !strings.Contains(r.stderr, "no epoch improved on the untrained model: saved the untrained model (validation NLL "+m[1]+"); try a lower -lr (this run: 10)") {
		t.Fatalf("no word of the untrained model being best:\n%s", r.stderr)
	}
	_, valid := validRows(t, data)
	if got := nllOf(loadFlow(t, filepath.Join(dir, "m.json")), valid); got != m[1] {
		t.Errorf("the saved model's validation NLL is %s, the untrained model's %s", got, m[1])
	}
}

// TestFitValidationNeverFinite: a held-out row so far out that its log p
// is −∞ under every model ends in an error, a saved model and no panic.
func TestFitValidationNeverFinite(t *testing.T) {
	dir := t.TempDir()
	const n = 50
	_, vi, err := splitIndex(n, 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	far := map[int]bool{}
	for _, k := range vi {
		far[k] = true
	}
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if far[i] {
			sb.WriteString("1e300,-1e300\n")
		} else {
			fmt.Fprintf(&sb, "%d,%d\n", i%7, i%5)
		}
	}
	writeFile(t, filepath.Join(dir, "data.csv"), sb.String())
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "m.json", "-epochs", "3", "-layers", "2", "-hidden", "4")
	if r.code != 1 || !strings.Contains(r.stderr, "validation NLL was never finite") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	loadFlow(t, filepath.Join(dir, "m.json"))
}

// TestFitBadOutput: an output that cannot be written fails before the data
// is read, let alone trained on.
func TestFitBadOutput(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 1)
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", filepath.Join("nodir", "m.json"), "-epochs", "2", "-layers", "2", "-hidden", "4")
	if r.code != 1 || !strings.Contains(r.stderr, "-out nodir") {
		t.Errorf("status %d, want 1 with an error naming -out\n%s", r.code, r.stderr)
	}
	if epochLines(r.stderr) > 0 || strings.Contains(r.stderr, "reading") {
		t.Errorf("it read or trained before failing:\n%s", r.stderr)
	}
	if fs := files(t, dir); len(fs) != 1 {
		t.Errorf("the directory holds %v", fs)
	}
}

// TestFitSameInOut: -out naming the data file, by any path, is a usage
// error and the data is left alone.
func TestFitSameInOut(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	moonsCSV(t, data, 50, 1)
	before, _ := os.ReadFile(data)
	if err := os.Symlink("data.csv", filepath.Join(dir, "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{"data.csv", "./data.csv", data, "link.csv", "sub/../data.csv"} {
		r := nflow(t, dir, "fit", "-in", "data.csv", "-out", out, "-epochs", "1", "-layers", "2", "-hidden", "4")
		if r.code != 2 || !strings.Contains(r.stderr, "is the -in file: it would be overwritten") {
			t.Errorf("-out %s: status %d, want 2\n%s", out, r.code, r.stderr)
		}
		if after, _ := os.ReadFile(data); string(after) != string(before) {
			t.Fatalf("-out %s: the data file was changed", out)
		}
	}
	r := nflow(t, dir, "fit", "-in", "link.csv", "-out", "data.csv", "-epochs", "1", "-layers", "2", "-hidden", "4")
	if r.code != 2 {
		t.Errorf("-in link.csv -out data.csv: status %d, want 2\n%s", r.code, r.stderr)
	}
}

// TestFitTiny: with 2 to 4 rows one row is held out, and the counts and
// the validation NLL printed are those of the row held out.
func TestFitTiny(t *testing.T) {
	for n := 2; n <= 4; n++ {
		dir := t.TempDir()
		data := filepath.Join(dir, "data.csv")
		writeFile(t, data, "a,b\n"+strings.Join([]string{"0.5,1", "-1,2.5", "2,-0.25", "1.5,0.75"}[:n], "\n")+"\n")
		r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "m.json", "-epochs", "2", "-layers", "2", "-hidden", "4")
		if r.code != 0 {
			t.Fatalf("%d rows: status %d\n%s", n, r.code, r.stderr)
		}
		rows := "rows"
		if n == 2 {
			rows = "row"
		}
		if want := fmt.Sprintf("read %d rows × 2 columns", n); !strings.Contains(r.stderr, want) {
			t.Errorf("%d rows: no %q in\n%s", n, want, r.stderr)
		}
		if want := fmt.Sprintf("training on %d %s (1 held out for validation)", n-1, rows); !strings.Contains(r.stderr, want) {
			t.Errorf("%d rows: no %q in\n%s", n, want, r.stderr)
		}
		_, valid := validRows(t, data)
		if vr, _ := valid.Dims(); vr != 1 {
			t.Fatalf("%d rows: %d held out", n, vr)
		}
		m := regexp.MustCompile(`best: (epoch \d+|the untrained model), validation NLL ([-0-9.]+)`).FindStringSubmatch(r.stderr)
		if got := nllOf(loadFlow(t, filepath.Join(dir, "m.json")), valid); m == nil || m[2] != got {
			t.Errorf("%d rows: the held-out row's NLL is %s; fit says %v\n%s", n, got, m, r.stderr)
		}
	}
}

// TestFitNames: the CSV header's names go into the model; a header that
// cannot name columns is an error naming the file, before training.
func TestFitNames(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 100, 1)
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "m.json", "-epochs", "1", "-layers", "2", "-hidden", "4")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	if got := loadFlow(t, filepath.Join(dir, "m.json")).Names(); strings.Join(got, ",") != "a,b" {
		t.Errorf("the model's names are %q, want the header's a, b", got)
	}
	writeFile(t, filepath.Join(dir, "dup.csv"), "x,x\n1,2\n3,4\n5,7\n")
	r = nflow(t, dir, "fit", "-in", "dup.csv", "-out", "d.json", "-epochs", "1", "-layers", "2", "-hidden", "4")
	if r.code != 1 || !strings.Contains(r.stderr, "dup.csv: the header") || !strings.Contains(r.stderr, `"x"`) || epochLines(r.stderr) > 0 {
		t.Errorf("duplicate names: status %d\n%s", r.code, r.stderr)
	}
}

// TestFitReport: fit says what it reads, and ends with the flow's and the
// best Gaussian's held-out NLL in nats per row.
func TestFitReport(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	moonsCSV(t, data, 400, 1)
	st, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "m.json", "-epochs", "3", "-layers", "2", "-hidden", "8", "-lr", "3e-3")
	if r.code != 0 {
		t.Fatalf("status %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(r.stderr, "\n")
	if want := fmt.Sprintf("reading data.csv (%.1f kB)", float64(st.Size())/1e3); lines[0] != want || !strings.HasPrefix(lines[1], "read 400 rows × 2 columns in ") {
		t.Errorf("the first lines are %q, want %q and what was read", lines[:2], want)
	}
	train, valid := validRows(t, data)
	g, err := flow.FitGaussian(train)
	if err != nil {
		t.Fatal(err)
	}
	f := loadFlow(t, filepath.Join(dir, "m.json"))
	m := regexp.MustCompile(`held-out NLL \(mean −log p over the 40 validation rows, nats per row; lower is better\):\n  flow +([0-9.]+) ± [0-9.]+\n  Gaussian +([0-9.]+) ± [0-9.]+  \(the best full-covariance Gaussian of the training rows\)\n  the flow is (better|worse) by [0-9.]+ nats per row\n`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no held-out comparison in\n%s", r.stderr)
	}
	if m[1] != nllOf(f, valid) || m[2] != nllOf(g, valid) {
		t.Errorf("printed flow %s, Gaussian %s; want %s, %s", m[1], m[2], nllOf(f, valid), nllOf(g, valid))
	}
}
