// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"gonum.org/v1/gonum/mat"
)

// sampleReference returns the first n rows that Sample's documentation
// defines for f and seed, with log q, formatted as formatSample does:
// block b drawn by one Flow.Sample call with ChaCha8 keyed by seed, b and
// "nfgo-flow/sample".
func sampleReference(t *testing.T, m *Model, n int64, seed uint64) []string {
	t.Helper()
	f := m.Flow()
	d := f.Dim()
	var out []string
	for b := int64(0); b*4096 < n; b++ {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:8], seed)
		binary.LittleEndian.PutUint64(key[8:16], uint64(b))
		copy(key[16:], "nfgo-flow/sample")
		rows := int(min(4096, n-b*4096))
		x := mat.NewDense(rows, d, nil)
		lq := make([]float64, rows)
		f.Sample(x, lq, rand.New(rand.NewChaCha8(key)))
		for r := range rows {
			out = append(out, formatSample(b*4096+int64(r), slices.Concat(x.RawRowView(r), lq[r:r+1])))
		}
	}
	slices.Sort(out)
	return out
}

// TestSampleShards draws the same rows with 1, 2, 3 and the default
// number of shards, in batches narrower than a block (D = 80), equal to
// the documented blocks drawn in one call each, and the same first rows
// for a smaller N.
func TestSampleShards(t *testing.T) {
	dir := t.TempDir()
	m := writeModel(t, dir, testFlow(t, 80, 0))
	const n = 2*BlockRows + 1000
	want := sampleReference(t, m, n, 11)
	if batchRows(80) >= BlockRows {
		t.Fatalf("batchRows(80) = %d: the test needs batches smaller than a block", batchRows(80))
	}
	for _, shards := range []int{1, 2, 3, 0} {
		p, s := beam.NewPipelineWithRoot()
		rows, err := Sample(s, m, SampleOptions{N: n, Seed: 11, Shards: shards, LogQ: true})
		if err != nil {
			t.Fatal(err)
		}
		out := writeOut(s, dir, fmt.Sprint("samples", shards), beam.ParDo(s, formatSample, rows))
		counters, _ := run(t, p)
		got := readLines(t, out)
		if !slices.Equal(got, want) {
			t.Errorf("%d shards: %d rows differ from the reference's %d", shards, len(got), len(want))
		}
		if counters["sampled"] != n {
			t.Errorf("%d shards: counter sampled = %d, want %d", shards, counters["sampled"], n)
		}
	}

	// The first 5000 rows of N = 9192 are the rows of N = 5000; another
	// seed gives other rows.
	p, s := beam.NewPipelineWithRoot()
	rows, err := Sample(s, m, SampleOptions{N: 5000, Seed: 11, Shards: 2, LogQ: true})
	if err != nil {
		t.Fatal(err)
	}
	out := writeOut(s, dir, "samples5000", beam.ParDo(s, formatSample, rows))
	other, err := Sample(s, m, SampleOptions{N: 5000, Seed: 12, LogQ: true})
	if err != nil {
		t.Fatal(err)
	}
	otherOut := writeOut(s, dir, "other", beam.ParDo(s, formatSample, other))
	run(t, p)
	got := splitTab(t, readLines(t, out))
	ref := splitTab(t, want)
	if len(got) != 5000 {
		t.Errorf("N = 5000: %d rows", len(got))
	}
	for i := range 5000 {
		k := strconv.Itoa(i)
		if got[k] != ref[k] {
			t.Fatalf("N = 5000: row %d is %q, row %d of N = %d is %q", i, got[k], i, n, ref[k])
		}
	}
	for k, v := range splitTab(t, readLines(t, otherOut)) {
		if ref[k] == v {
			t.Errorf("seeds 11 and 12 give the same row %s: %s", k, v)
		}
	}
}

// TestSampleErrors checks Sample's errors.
func TestSampleErrors(t *testing.T) {
	m := writeModel(t, t.TempDir(), testFlow(t, 2, 0))
	mc := writeModel(t, t.TempDir(), testFlow(t, 2, 1))
	for _, test := range []struct {
		m    *Model
		opts SampleOptions
		want string
	}{
		{mc, SampleOptions{N: 10}, "flowbeam: Sample: the model " + mc.Path() + " is conditional (a context of 1 columns): sampling given contexts is not supported"},
		{m, SampleOptions{N: 0}, "flowbeam: Sample: N is 0, want at least 1"},
		{m, SampleOptions{N: 1, Shards: -1}, "flowbeam: Sample: Shards is -1, want at least 0"},
		{nil, SampleOptions{N: 1}, "flowbeam: Sample: nil *Model"},
	} {
		_, s := beam.NewPipelineWithRoot()
		if _, err := Sample(s, test.m, test.opts); err == nil || err.Error() != test.want {
			t.Errorf("%+v: error %v, want %q", test.opts, err, test.want)
		}
	}
}

// TestShardBlocks checks that the shards cover the blocks in order, each
// once, in runs whose lengths differ by at most one.
func TestShardBlocks(t *testing.T) {
	for blocks := int64(1); blocks <= 40; blocks++ {
		for shards := int64(1); shards <= blocks; shards++ {
			next := int64(0)
			var lens []int64
			for k := range shards {
				lo, hi := shardBlocks(k, shards, blocks)
				if lo != next || hi <= lo {
					t.Fatalf("%d blocks, %d shards: shard %d is [%d, %d), want it to start at %d and be non-empty", blocks, shards, k, lo, hi, next)
				}
				lens = append(lens, hi-lo)
				next = hi
			}
			if next != blocks || slices.Max(lens)-slices.Min(lens) > 1 {
				t.Fatalf("%d blocks, %d shards: runs %v", blocks, shards, lens)
			}
		}
	}
}
