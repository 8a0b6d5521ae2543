// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/nfgo/flow"
)

func TestMain(m *testing.M) {
	ptest.Main(m)
}

func init() {
	register.Function2x1(formatScore)
	register.Function2x1(formatBadRow)
	register.Function2x1(formatIntScore)
	register.Function2x1(formatIntBad)
	register.Function2x1(formatSample)
}

// The tests write a pipeline's outputs as lines, key TAB value, each
// number in the shortest form that reads back exactly.
func formatScore(line string, lp float64) string {
	return line + "\t" + strconv.FormatFloat(lp, 'g', -1, 64)
}

func formatBadRow(line, reason string) string { return line + "\t" + reason }

func formatIntScore(k int, lp float64) string {
	return strconv.Itoa(k) + "\t" + strconv.FormatFloat(lp, 'g', -1, 64)
}

func formatIntBad(k int, reason string) string { return strconv.Itoa(k) + "\t" + reason }

func formatSample(i int64, row []float64) string {
	s := strconv.FormatInt(i, 10)
	for _, v := range row {
		s += "\t" + strconv.FormatFloat(v, 'g', -1, 64)
	}
	return s
}

// testFlow returns a Real NVP of dimension d (with a context of c columns
// when c > 0) whose parameters are random, so that no layer is the
// identity, and whose columns are named.
func testFlow(t *testing.T, d, c int) *flow.Flow {
	t.Helper()
	f, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: d, Layers: 4, Hidden: []int{16, 16}, Activation: flow.Tanh, Clamp: 3, Seed: 7, ContextDim: c})
	if err != nil {
		t.Fatal(err)
	}
	p := f.Params()
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range p {
		p[i] += 0.2 * rnd.NormFloat64()
	}
	f.SetParams(p)
	names := make([]string, d)
	for j := range names {
		names[j] = "x" + strconv.Itoa(j+1)
	}
	if err := f.SetNames(names); err != nil {
		t.Fatal(err)
	}
	if c > 0 {
		cnames := make([]string, c)
		for j := range cnames {
			cnames[j] = "c" + strconv.Itoa(j+1)
		}
		if err := f.SetContextNames(cnames); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// writeModel writes f to a model file in dir and loads it.
func writeModel(t *testing.T, dir string, f *flow.Flow) *Model {
	t.Helper()
	b, err := flow.MarshalFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeLines writes lines to a file in dir.
func writeLines(t *testing.T, dir, name string, lines []string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readLines returns the lines of a file that a pipeline wrote, sorted; a
// missing file has none.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return lines
}

// splitTab splits lines of key TAB value into a map, failing on a
// repeated key.
func splitTab(t *testing.T, lines []string) map[string]string {
	t.Helper()
	m := make(map[string]string, len(lines))
	for _, l := range lines {
		i := strings.LastIndexByte(l, '\t')
		if i < 0 {
			t.Fatalf("output line %q has no tab", l)
		}
		k, v := l[:i], l[i+1:]
		if _, ok := m[k]; ok {
			t.Fatalf("key %q twice in the output", k)
		}
		m[k] = v
	}
	return m
}

// run runs p on Prism and returns the flowbeam counters and the batch
// sizes' distribution.
func run(t *testing.T, p *beam.Pipeline) (map[string]int64, metrics.DistributionValue) {
	t.Helper()
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
	counters := make(map[string]int64)
	var dist metrics.DistributionValue
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == "flowbeam" {
			counters[c.Name()] += c.Result()
		}
	}
	for _, d := range res.Metrics().AllMetrics().Distributions() {
		if d.Namespace() == "flowbeam" && d.Name() == "batch_rows" {
			v := d.Result()
			if dist.Count == 0 {
				dist = v
				continue
			}
			dist.Count += v.Count
			dist.Sum += v.Sum
			dist.Min = min(dist.Min, v.Min)
			dist.Max = max(dist.Max, v.Max)
		}
	}
	return counters, dist
}

// writeOut writes the lines of col to a file in dir and returns its path.
func writeOut(s beam.Scope, dir, name string, col beam.PCollection) string {
	path := filepath.Join(dir, name)
	textio.Write(s, path, col)
	return path
}
