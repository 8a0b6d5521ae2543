// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nfgo/flow"
)

// hostileDir writes the files that the hostile inputs name: a good model
// and data, binary junk, a truncated model, an empty file, a directory.
func hostileDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	moonsModel(t, filepath.Join(dir, "model.json"))
	moonsCSV(t, filepath.Join(dir, "data.csv"), 50, 1)
	writeFile(t, filepath.Join(dir, "data3.csv"), "1,2,3\n4,5,6\n")
	junk := make([]byte, 4096)
	rnd := rand.New(rand.NewPCG(1, 1))
	for i := range junk {
		junk[i] = byte(rnd.Uint32())
	}
	writeFile(t, filepath.Join(dir, "junk.bin"), string(junk))
	m := readString(t, filepath.Join(dir, "model.json"))
	writeFile(t, filepath.Join(dir, "trunc.json"), m[:len(m)/3])
	writeFile(t, filepath.Join(dir, "empty"), "")
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hostileCases are command lines with hostile flags, data and model files,
// and the exit status each must give.
var hostileCases = []struct {
	code int
	args string
}{
	// demo, small enough to train in a moment.
	{2, "demo -bogus"},
	{2, "demo -n -5"},
	{2, "demo -n abc"},
	{2, "demo -n 99999999999999999999999"},
	{2, "demo -epochs 0"},
	{2, "demo -epochs -1 -n 20"},
	{2, "demo -lr NaN -n 20 -epochs 1"},
	{2, "demo -lr -1 -n 20 -epochs 1"},
	{2, "demo -lr +Inf -n 20 -epochs 1"},
	{2, "demo -data= -n 20 -epochs 1"},
	{2, "demo -data nope -n 20 -epochs 1"},
	{2, "demo -layers 0 -n 20 -epochs 1"},
	{2, "demo -hidden 0 -n 20 -epochs 1"},
	{2, "demo -hidden abc -n 20 -epochs 1"},
	{2, "demo -n 100000000000 -epochs 1"},
	{1, "demo -hidden 4611686018427387904 -n 20 -epochs 1"},
	{1, "demo -layers 1099511627776 -n 20 -epochs 1"},
	{1, "demo -hidden 100000 -n 20 -epochs 1"},
	{2, "demo -act sigmoid -n 20 -epochs 1"},
	{2, "demo -clamp NaN -n 20 -epochs 1"},
	{2, "demo -valid 1 -n 20 -epochs 1"},
	{2, "demo -batch 0 -n 20 -epochs 1"},
	{2, "demo -seed -1 -n 20 -epochs 1"},
	{2, "demo extra -n 20 -epochs 1"},
	{1, "demo -n 20 -epochs 1 -layers 1 -hidden 2 -out data.csv"},
	{0, "demo -n 20 -epochs 1 -layers 1 -hidden 2 -out pics"},
	{1, "demo -data moons-given -model maf -hidden 1 -n 20 -epochs 1"},
	{2, "demo -model nsf -bins 0 -n 20 -epochs 1"},
	{2, "demo -model nsf -bound NaN -n 20 -epochs 1"},
	{2, "demo -model nsf-ar -bins 0 -n 20 -epochs 1"},
	{2, "demo -model nsf-ar -bound -Inf -n 20 -epochs 1"},
	{1, "demo -data moons-given -model nsf-ar -hidden 1 -n 20 -epochs 1"},
	{0, "demo -model nsf-ar -bins 2 -n 20 -epochs 1 -layers 1 -hidden 2 -out pics"},

	// fit.
	{2, "fit"},
	{2, "fit -in="},
	{2, "fit -in data.csv -epochs -3"},
	{2, "fit -in data.csv -lr NaN"},
	{2, "fit -in data.csv -valid NaN"},
	{2, "fit -in data.csv -valid -0.5"},
	{2, "fit -in data.csv -batch -1"},
	{1, "fit -in data.csv -epochs 1 -hidden 1099511627776"},
	{1, "fit -in data.csv -epochs 1 -model maf -hidden 4611686018427387904"},
	{2, "fit -in data.csv -patience -1"},
	{2, "fit -in data.csv -model foo -epochs 1"},
	{2, "fit -in data.csv -layers 99999999999999999999"},
	{1, "fit -in missing.csv"},
	{1, "fit -in dir"},
	{1, "fit -in /dev/null"},
	{1, "fit -in empty"},
	{1, "fit -in junk.bin"},
	{1, "fit -in model.json -out m2.json"},
	{2, "fit -in model.json"}, // the default -out is model.json: refused
	{1, "fit -in data.csv -epochs 1 -layers 1 -hidden 2 -out dir"},
	{1, "fit -in data.csv -epochs 1 -layers 1 -hidden 2 -out nodir/m.json"},
	{0, "fit -in data.csv -epochs 1 -layers 1 -hidden 2 -out /dev/null"},
	{2, "fit -in data.csv -context 0"},
	{2, "fit -in data.csv -context -1"},
	{2, "fit -in data.csv -context a,a"},
	{2, "fit -in data.csv -context a,"},
	{1, "fit -in data.csv -context 2"},
	{1, "fit -in data.csv -context 99999999999999999999"},
	{1, "fit -in data.csv -context nope"},
	{1, "fit -in data.csv -context a,b"},
	{1, "fit -in data3.csv -context x"},
	{1, "fit -in data3.csv -context 1 -epochs 1 -model maf -hidden 1"},
	{2, "fit -in data.csv -model nsf -bins 0 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bins -1 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bins 1000 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bins 4611686018427387904 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bins 99999999999999999999 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bins 2.5 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bound 0 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bound -1 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bound NaN -epochs 1"},
	{2, "fit -in data.csv -model nsf -bound Inf -epochs 1"},
	{2, "fit -in data.csv -model nsf -bound -Inf -epochs 1"},
	{2, "fit -in data.csv -model nsf -bound 1e101 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bound 1e-101 -epochs 1"},
	{2, "fit -in data.csv -model nsf -bound 1e999 -epochs 1"},
	{1, "fit -in data.csv -model nsf -epochs 1 -hidden 1099511627776"},
	{0, "fit -in data.csv -model nsf -bins 3 -bound 2 -epochs 1 -layers 2 -hidden 2 -out /dev/null"},
	{0, "fit -in data.csv -model nsf -bins 999 -bound 1e100 -epochs 1 -layers 1 -hidden 2 -out /dev/null"},
	{2, "fit -in data.csv -model nsf-ar -bins 0 -epochs 1"},
	{2, "fit -in data.csv -model nsf-ar -bins 1000 -epochs 1"},
	{2, "fit -in data.csv -model nsf-ar -bins 4611686018427387904 -epochs 1"},
	{2, "fit -in data.csv -model nsf-ar -bins 2.5 -epochs 1"},
	{2, "fit -in data.csv -model nsf-ar -bound NaN -epochs 1"},
	{2, "fit -in data.csv -model nsf-ar -bound -1 -epochs 1"},
	{2, "fit -in data.csv -model nsf-ar -bound 1e999 -epochs 1"},
	{2, "fit -in data.csv -model nsf-ar -layers 0 -epochs 1"},
	{1, "fit -in data.csv -model nsf-ar -epochs 1 -hidden 1099511627776"},
	{1, "fit -in data.csv -model nsf-ar -epochs 1 -bins 999 -hidden 4611686018427387904"},
	{1, "fit -in data3.csv -context 1 -epochs 1 -model nsf-ar -hidden 1"},
	{0, "fit -in data.csv -model nsf-ar -bins 999 -bound 1e100 -epochs 1 -layers 1 -hidden 2 -out /dev/null"},
	{0, "fit -in data.csv -model nsf-ar -bins 1 -bound 0.5 -epochs 1 -layers 3 -hidden 2 -out /dev/null"},

	// sample.
	{2, "sample"},
	{2, "sample -model="},
	{2, "sample -model model.json -n -1"},
	{2, "sample -model model.json -n 0"},
	{2, "sample -model model.json -n 1e9"},
	{2, "sample -model model.json -n 99999999999999999999"},
	{2, "sample -model model.json -seed NaN"},
	{2, "sample -model model.json -logq=maybe"},
	{2, "sample -model model.json -out model.json"},
	{1, "sample -model missing.json"},
	{1, "sample -model dir"},
	{1, "sample -model /dev/null"},
	{1, "sample -model /dev/zero"},
	{1, "sample -model empty"},
	{1, "sample -model junk.bin"},
	{1, "sample -model trunc.json"},
	{1, "sample -model data.csv"},
	{1, "sample -model model.json -out dir"},
	{1, "sample -model model.json -out nodir/s.csv"},
	// Far more rows than memory holds: streamed until the device is full.
	{1, "sample -model model.json -n 9223372036854775807 -out /dev/full"},
	{0, "sample -model model.json -n 3 -out /dev/null"},
	{2, "sample -model model.json -context data.csv"},
	{2, "sample -model model.json -context missing.csv"},

	// logprob.
	{2, "logprob -model model.json"},
	{2, "logprob -model model.json -in="},
	{2, "logprob -in data.csv"},
	{2, "logprob -model model.json -in data.csv -out data.csv"},
	{1, "logprob -model model.json -in missing.csv"},
	{1, "logprob -model model.json -in dir"},
	{1, "logprob -model model.json -in /dev/null"},
	{1, "logprob -model model.json -in empty"},
	{1, "logprob -model model.json -in junk.bin"},
	{1, "logprob -model model.json -in data3.csv"},
	{1, "logprob -model junk.bin -in data.csv"},
	{1, "logprob -model trunc.json -in data.csv"},
	{1, "logprob -model dir -in data.csv"},
	{1, "logprob -model model.json -in data.csv -out dir"},
	{0, "logprob -model model.json -in data.csv -out /dev/null"},

	// plot.
	{2, "plot"},
	{2, "plot -model model.json -n -1"},
	{2, "plot -model model.json -n NaN"},
	{2, "plot -model model.json -out p.txt"},
	{2, "plot -model model.json -out dir"},
	{1, "plot -model missing.json"},
	{1, "plot -model dir"},
	{1, "plot -model junk.bin"},
	{1, "plot -model trunc.json"},
	{1, "plot -model /dev/null"},
	{1, "plot -model model.json -data junk.bin"},
	{1, "plot -model model.json -data dir"},
	{1, "plot -model model.json -data /dev/null"},
	{1, "plot -model model.json -data data3.csv"},
	{1, "plot -model model.json -n 10 -out nodir/p.png"},
	{2, "plot -model model.json -context 0"},
	{2, "plot -model model.json -context data.csv"},

	// datasets, and no command.
	{2, "datasets extra"},
	{2, "datasets -x"},
	{2, "frobnicate"},
	{2, ""},
}

// TestHostileInput runs every command with hostile flags, data and model
// files: none panics or crashes, each gives its exit status, and every
// failure says what failed in a line "nflow COMMAND: …".
func TestHostileInput(t *testing.T) {
	dir := hostileDir(t)
	crash := regexp.MustCompile(`panic:|goroutine \d|: internal error|fatal error`)
	for _, tc := range hostileCases {
		args := strings.Fields(tc.args)
		r := nflow(t, dir, args...)
		if r.code != tc.code {
			t.Errorf("nflow %s: status %d, want %d\n%s", tc.args, r.code, tc.code, r.stderr)
		}
		if crash.MatchString(r.stderr) {
			t.Errorf("nflow %s crashed:\n%s", tc.args, r.stderr)
		}
		if r.code == 0 || len(args) == 0 {
			continue
		}
		prefix := "nflow " + args[0] + ": "
		if args[0] == "frobnicate" {
			prefix = "nflow: unknown command"
		}
		ok := false
		for _, l := range strings.Split(r.stderr, "\n") {
			ok = ok || strings.HasPrefix(l, prefix) && len(l) > len(prefix)
		}
		if !ok {
			t.Errorf("nflow %s: no line %q… in\n%s", tc.args, prefix, r.stderr)
		}
	}
	// Nothing was written where it should not be, no temporary file left.
	for _, n := range files(t, dir) {
		switch n {
		case "model.json", "data.csv", "data3.csv", "junk.bin", "trunc.json", "empty", "dir", "pics":
		default:
			t.Errorf("the directory holds %s", n)
		}
	}
}

// FuzzCommand runs logprob and sample in-process on arbitrary model and
// data bytes: no panic (run turns one into exit status 3), and a failure is
// exit status 1 with a message.
func FuzzCommand(f *testing.F) {
	g, err := flow.NewRealNVP(flow.RealNVPConfig{Dim: 2, Layers: 2, Hidden: []int{4}})
	if err != nil {
		f.Fatal(err)
	}
	model, err := flow.MarshalFlow(g)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(model, []byte("a,b\n1,2\n-3,4.5\n"))
	f.Add(model[:len(model)/2], []byte("1,2\n"))
	f.Add(model, []byte("1;2\n3,5;4\n"))
	f.Add(model, []byte("\ufeffnan,inf\n1,2\n"))
	f.Add([]byte("{}"), []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, model, data []byte) {
		dir := t.TempDir()
		m, d := filepath.Join(dir, "m.json"), filepath.Join(dir, "d.csv")
		if err := os.WriteFile(m, model, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"logprob", "-model", m, "-in", d, "-out", filepath.Join(dir, "lp.csv")},
			{"sample", "-model", m, "-n", "5", "-out", filepath.Join(dir, "s.csv")},
		} {
			var so, se bytes.Buffer
			code := run(context.Background(), args, &so, &se)
			switch {
			case code == 0:
			case code == 1 && strings.HasPrefix(se.String(), "nflow "+args[0]+": "):
			default:
				t.Fatalf("%v: status %d\n%s", args[:1], code, se.String())
			}
		}
	})
}
