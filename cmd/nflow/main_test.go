// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/nfgo/flow"
)

// nflowBin is the command built by TestMain, or "" where a built binary
// cannot run: the tests then call run in-process, and those that need a
// separate process fail. Under user-mode emulation without binfmt (the arm64 CI
// run), the binary is started through qemu-aarch64-static, named in
// nflowBin with the binary in nflowArgs.
var (
	nflowBin  string
	nflowArgs []string
)

// nflowCommand returns the command that runs nflow with args.
func nflowCommand(args ...string) *exec.Cmd {
	return exec.Command(nflowBin, append(append([]string(nil), nflowArgs...), args...)...)
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nflow-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, "nflow")
	out, err := exec.Command("go", "build", "-tags", buildTags, "-o", bin, ".").CombinedOutput()
	switch {
	case os.Getenv("NFLOW_TEST_INPROCESS") != "":
		// Forced, to test the in-process path.
	case err != nil:
		fmt.Fprintf(os.Stderr, "go build failed, testing in-process: %v\n%s", err, out)
	default:
		if err := exec.Command(bin, "help").Run(); err == nil {
			nflowBin = bin
			break
		}
		if q, err := exec.LookPath("qemu-" + qemuArch[runtime.GOARCH] + "-static"); err == nil && exec.Command(q, bin, "help").Run() == nil {
			nflowBin, nflowArgs = q, []string{bin}
			break
		}
		fmt.Fprintln(os.Stderr, "the built nflow does not run here, testing in-process")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// qemuArch names qemu's user-mode emulator of each GOARCH.
var qemuArch = map[string]string{"arm64": "aarch64", "amd64": "x86_64"}

// result is what one run of nflow gave.
type result struct {
	stdout, stderr string
	code           int
}

// nflow runs the command with args in dir.
func nflow(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var so, se bytes.Buffer
	if nflowBin == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chdir(dir); err != nil {
			t.Fatal(err)
		}
		defer os.Chdir(wd)
		code := run(context.Background(), args, &so, &se)
		return result{so.String(), se.String(), code}
	}
	cmd := nflowCommand(args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("nflow %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{so.String(), se.String(), code}
}

func writeFile(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// moonsCSV writes n points of two moons with a header.
func moonsCSV(t *testing.T, name string, n int, seed uint64) {
	t.Helper()
	x := flow.TwoMoons(n, 0.1, rand.New(rand.NewPCG(seed, 1)))
	var b bytes.Buffer
	if err := writeCSV(&b, []string{"a", "b"}, x); err != nil {
		t.Fatal(err)
	}
	writeFile(t, name, b.String())
}

func loadFlow(t *testing.T, name string) *flow.Flow {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := flow.UnmarshalFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// files lists the names in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range es {
		s = append(s, e.Name())
	}
	return s
}

func TestFitSampleLogProbPlot(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 400, 1)
	r := nflow(t, dir, "fit", "-in", "data.csv", "-out", "model.json", "-epochs", "4", "-layers", "2", "-hidden", "8", "-batch", "64", "-lr", "3e-3")
	if r.code != 0 {
		t.Fatalf("fit: status %d\n%s", r.code, r.stderr)
	}
	progress := regexp.MustCompile(`(?m)^epoch +(\d+)/4  train NLL +[-0-9.]+  valid NLL +[-0-9.]+ +\d+ samples/s  left ≤ \S+`)
	if m := progress.FindAllString(r.stderr, -1); len(m) != 4 {
		t.Errorf("fit: %d progress lines, want 4:\n%s", len(m), r.stderr)
	}
	f := loadFlow(t, filepath.Join(dir, "model.json"))
	ls := f.Layers()
	if _, ok := ls[len(ls)-1].(*flow.Standardize); !ok || len(ls) != 3 {
		t.Errorf("the model's layers are %T, want 2 couplings and the standardisation", ls)
	}

	r = nflow(t, dir, "sample", "-model", "model.json", "-n", "50", "-seed", "3", "-out", "s.csv")
	if r.code != 0 {
		t.Fatalf("sample: status %d\n%s", r.code, r.stderr)
	}
	s, header, err := readCSV(filepath.Join(dir, "s.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n, d := s.Dims(); n != 50 || d != 2 || strings.Join(header, ",") != "a,b" { // the data header's names, kept in the model
		t.Errorf("sample: %d×%d with header %v", n, d, header)
	}
	// The same seed gives the same samples on standard output.
	r2 := nflow(t, dir, "sample", "-model", "model.json", "-n", "50", "-seed", "3")
	if b, _ := os.ReadFile(filepath.Join(dir, "s.csv")); string(b) != r2.stdout {
		t.Error("sample: -out and standard output differ")
	}

	r = nflow(t, dir, "logprob", "-model", "model.json", "-in", "data.csv")
	if r.code != 0 {
		t.Fatalf("logprob: status %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 401 || lines[0] != "logp" {
		t.Fatalf("logprob: %d lines starting %q", len(lines), lines[0])
	}
	data, _, err := readCSV(filepath.Join(dir, "data.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := f.LogProb(nil, data)
	for i, l := range lines[1:] {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil || v != want[i] {
			t.Fatalf("logprob: row %d is %q, want %v", i, l, want[i])
		}
	}
	mean, se := meanSE(want)
	if !strings.Contains(r.stderr, fmt.Sprintf("mean log p = %.6g ± %.2g (standard error, 400 rows)", mean, se)) {
		t.Errorf("logprob: summary %q", r.stderr)
	}

	for _, args := range [][]string{
		{"plot", "-model", "model.json", "-out", "p.png"},
		{"plot", "-model", "model.json", "-out", "q.png", "-data", "data.csv"},
	} {
		r = nflow(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%v: status %d\n%s", args, r.code, r.stderr)
		}
		png(t, filepath.Join(dir, args[4]))
	}
}

// png checks that name is a PNG file of some size.
func png(t *testing.T, name string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 5000 {
		t.Errorf("%s: not a PNG of some size (%d bytes)", name, len(b))
	}
}

// TestPlotPairs fits a 3-D model and draws its pairwise marginals.
func TestPlotPairs(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	rnd := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 200; i++ {
		a := rnd.NormFloat64()
		fmt.Fprintf(&sb, "%v\t%v\t%v\n", a, a*a+0.1*rnd.NormFloat64(), rnd.Float64())
	}
	writeFile(t, filepath.Join(dir, "d.tsv"), sb.String())
	if r := nflow(t, dir, "fit", "-in", "d.tsv", "-epochs", "2", "-layers", "2", "-hidden", "4"); r.code != 0 {
		t.Fatalf("fit: status %d\n%s", r.code, r.stderr)
	}
	if f := loadFlow(t, filepath.Join(dir, "model.json")); f.Dim() != 3 {
		t.Fatalf("dimension %d", f.Dim())
	}
	if r := nflow(t, dir, "plot", "-model", "model.json", "-out", "pairs.png", "-n", "500"); r.code != 0 {
		t.Fatalf("plot: status %d\n%s", r.code, r.stderr)
	}
	png(t, filepath.Join(dir, "pairs.png"))
}

func TestBadData(t *testing.T) {
	for _, tc := range []struct {
		name, data, msg string
	}{
		{"ragged", "a,b\n1,2\n3,4\n5\n", "data.csv: line 4, column 2: ragged row: 1 columns, the header has 2"},
		{"ragged-long", "1,2\n3,4,5\n", "data.csv: line 2, column 3: ragged row: 3 columns, the first row has 2"},
		{"not-a-number", "x,y\n1,2\n3,abc\n", `data.csv: line 3, column 2: "abc" is not a number`},
		{"empty", "", "data.csv: empty file"},
		{"blank", "\n  \n", "data.csv: empty file"},
		{"header-only", "x,y\n", "data.csv: no rows of data after the header"},
		{"NaN", "1,2\n3,4\nNaN,5\n", "data.csv: line 3, column 1: NaN is not a finite number"},
		{"Inf", "1,2\n3,-Inf\n", "data.csv: line 2, column 2: -Inf is not a finite number"},
		{"quote", "1,2\n3,\"4\n", "data.csv: line 2, column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "data.csv"), tc.data)
			writeFile(t, filepath.Join(dir, "model.json"), "")
			for _, args := range [][]string{
				{"fit", "-in", "data.csv", "-out", "out.json", "-epochs", "1"},
				{"logprob", "-model", "model.json", "-in", "data.csv", "-out", "out.csv"},
			} {
				if args[0] == "logprob" {
					// A valid model, so that the data is what fails.
					moonsModel(t, filepath.Join(dir, "model.json"))
				}
				r := nflow(t, dir, args...)
				if r.code != 1 {
					t.Errorf("%s: status %d, want 1\n%s", args[0], r.code, r.stderr)
				}
				if !strings.Contains(r.stderr, tc.msg) {
					t.Errorf("%s: error %q does not contain %q", args[0], r.stderr, tc.msg)
				}
				if r.stdout != "" {
					t.Errorf("%s: wrote %q to standard output", args[0], r.stdout)
				}
				if fs := files(t, dir); len(fs) != 2 {
					t.Errorf("%s: the directory holds %v: a partial output was left", args[0], fs)
				}
			}
		})
	}
}

// moonsModel writes a small 2-D model.
func moonsModel(t *testing.T, name string) {
	t.Helper()
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := saveModel(name, io.Discard, f); err != nil {
		t.Fatal(err)
	}
}

func TestBadModel(t *testing.T) {
	dir := t.TempDir()
	moonsModel(t, filepath.Join(dir, "good.json"))
	b, err := os.ReadFile(filepath.Join(dir, "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "bad.json"), string(b[:len(b)/2]))
	r := nflow(t, dir, "sample", "-model", "bad.json", "-out", "s.csv")
	if r.code != 1 || !strings.Contains(r.stderr, "bad.json: flow: model: layers[") || !strings.Contains(r.stderr, "truncated") {
		t.Errorf("status %d, error %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.csv")); err == nil {
		t.Error("a sample file was written")
	}
	r = nflow(t, dir, "sample", "-model", "good.json", "-n", "0")
	if r.code != 2 || !strings.Contains(r.stderr, "-n: 0") {
		t.Errorf("-n 0: status %d, error %q", r.code, r.stderr)
	}
	r = nflow(t, dir, "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: status %d, error %q", r.code, r.stderr)
	}
}

// TestFitModels fits each kind of model.
func TestFitModels(t *testing.T) {
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 200, 2)
	for _, m := range []string{"realnvp", "nsf", "maf", "nsf-ar"} {
		r := nflow(t, dir, "fit", "-in", "data.csv", "-model", m, "-out", m+".json", "-epochs", "2", "-layers", "2", "-hidden", "8")
		if r.code != 0 {
			t.Fatalf("%s: status %d\n%s", m, r.code, r.stderr)
		}
		loadFlow(t, filepath.Join(dir, m+".json"))
	}
}

func TestInterruptedFit(t *testing.T) {
	if nflowBin == "" {
		t.Fatal("this test needs the built nflow as a process: it runs natively, and under emulation through qemu-" + qemuArch[runtime.GOARCH] + "-static, which is not on PATH")
	}
	dir := t.TempDir()
	moonsCSV(t, filepath.Join(dir, "data.csv"), 2000, 3)
	cmd := nflowCommand("fit", "-in", "data.csv", "-out", "model.json", "-epochs", "100000", "-patience", "0", "-layers", "2", "-hidden", "8")
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.HasPrefix(sc.Text(), "epoch ") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	for sc.Scan() {
		log = append(log, sc.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want status 130\n%s", err, strings.Join(log, "\n"))
	}
	if !strings.Contains(strings.Join(log, "\n"), "interrupted after") {
		t.Errorf("no word of the interruption:\n%s", strings.Join(log, "\n"))
	}
	f := loadFlow(t, filepath.Join(dir, "model.json"))
	if f.Dim() != 2 {
		t.Errorf("dimension %d", f.Dim())
	}
	if fs := files(t, dir); len(fs) != 2 {
		t.Errorf("the directory holds %v", fs)
	}
}

var heldOut = regexp.MustCompile(`(?m)^  flow +(-?[0-9.]+) ± [0-9.]+\n  Gaussian +(-?[0-9.]+) ± `)

// demo runs nflow demo with args and returns the flow's and the Gaussian's
// held-out log-likelihoods.
func demo(t *testing.T, args ...string) (dir string, flowLL, gaussLL float64, took time.Duration) {
	t.Helper()
	dir = t.TempDir()
	start := time.Now()
	r := nflow(t, dir, append([]string{"demo", "-out", "pics"}, args...)...)
	took = time.Since(start)
	if r.code != 0 {
		t.Fatalf("demo: status %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	m := heldOut.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("demo: no held-out log-likelihoods in\n%s", r.stdout)
	}
	flowLL, _ = strconv.ParseFloat(m[1], 64)
	gaussLL, _ = strconv.ParseFloat(m[2], 64)
	for _, p := range []string{"density.png", "samples.png", "demo.png"} {
		png(t, filepath.Join(dir, "pics", p))
	}
	loadFlow(t, filepath.Join(dir, "pics", "model.json"))
	return dir, flowLL, gaussLL, took
}

// TestDemoSmall runs a small demo: the flow beats the Gaussian.
func TestDemoSmall(t *testing.T) {
	_, lf, lg, _ := demo(t, "-n", "1500", "-epochs", "25", "-layers", "4", "-hidden", "16,16", "-lr", "5e-3")
	if !(lf > lg+0.3) {
		t.Errorf("held-out log-likelihood: flow %v, Gaussian %v", lf, lg)
	}
}

// TestDemo runs the demo as a user would, with no flags: it finishes in
// under a minute and beats the Gaussian. CI runs it in its native steps;
// under emulation the minute would measure the emulator.
func TestDemo(t *testing.T) {
	if nflowBin == "" {
		t.Fatal("this test needs the built nflow as a process: it runs natively, and under emulation through qemu-" + qemuArch[runtime.GOARCH] + "-static, which is not on PATH")
	}
	_, lf, lg, took := demo(t)
	if took > time.Minute {
		t.Errorf("the demo took %v", took)
	}
	if !(lf > lg+0.5) {
		t.Errorf("held-out log-likelihood: flow %v, Gaussian %v", lf, lg)
	}
	t.Logf("demo: %v, flow %v, Gaussian %v", took, lf, lg)
}

func TestParseCSV(t *testing.T) {
	x, h, err := parseCSV("t", []byte("# comment\n a , b\n1, 2\n\n3,4e-1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(x, mat.NewDense(2, 2, []float64{1, 2, 3, 0.4})) || strings.Join(h, "|") != "a|b" {
		t.Errorf("got %v %v", mat.Formatted(x), h)
	}
	x, h, err = parseCSV("t", []byte("1\t2\n3\t4\n"))
	if err != nil || h != nil || x.At(1, 1) != 4 {
		t.Errorf("tabs: %v %v %v", x, h, err)
	}
	if _, _, err := parseCSV("t", []byte("1,2\n1e999,3\n")); err == nil || !strings.Contains(err.Error(), "line 2, column 1") {
		t.Errorf("overflow: %v", err)
	}
}
