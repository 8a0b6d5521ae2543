// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestCSVCorners reads the corner cases of the table format: byte order
// marks, headers named like non-finite numbers, semicolons, decimal commas,
// and lines that are not rows.
func TestCSVCorners(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		header     []string
		want       []float64 // 2 columns
		err        string
	}{
		{name: "BOM-header", data: "\ufeffa,b\n1,2\n", header: []string{"a", "b"}, want: []float64{1, 2}},
		{name: "BOM-no-header", data: "\ufeff1,2\n3,4\n", want: []float64{1, 2, 3, 4}},
		{name: "BOM-tabs", data: "\ufeff1\t2\n", want: []float64{1, 2}},
		{name: "header-nan-inf", data: "nan,inf\n1,2\n", header: []string{"nan", "inf"}, want: []float64{1, 2}},
		{name: "header-NaN-Infinity", data: "NaN, -Infinity\n1,2\n", header: []string{"NaN", "-Infinity"}, want: []float64{1, 2}},
		{name: "first-row-nan-and-number", data: "nan,1\n1,2\n", err: "t: line 1, column 1: nan is not a finite number"},
		{name: "header-name-and-number", data: "x,2020\n1,2\n", err: `t: line 1, column 1: "x" is not a number`},
		{name: "semicolons", data: "1;2\n3.5;4\n", want: []float64{1, 2, 3.5, 4}},
		{name: "semicolons-header", data: "a;b\n1;2\n", header: []string{"a", "b"}, want: []float64{1, 2}},
		{name: "semicolons-quoted-name", data: "\"a;1\",b\n1,2\n", header: []string{"a;1", "b"}, want: []float64{1, 2}},
		{name: "decimal-commas", data: "1,5;2,5\n3;4\n", err: `t: line 1, column 1: "1,5" has a decimal comma: write numbers with a decimal point (1.5)`},
		{name: "decimal-commas-header", data: "a;b\n1;2\n3;4,25\n", err: `t: line 3, column 2: "4,25" has a decimal comma`},
		{name: "comma-then-tabs", data: "# a comment, with a comma\n1\t2\n", want: []float64{1, 2}},
		{name: "spaces-line", data: "1,2\n   \n\t\n3,4\n", want: []float64{1, 2, 3, 4}},
		{name: "only-comments", data: "# x\n# y\n", err: "t: empty file: no rows of data"},
		{name: "only-BOM", data: "\ufeff", err: "t: empty file: no rows of data"},
		{name: "CRLF", data: "a,b\r\n1,2\r\n", header: []string{"a", "b"}, want: []float64{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, h, err := parseCSV("t", []byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !mat.Equal(x, mat.NewDense(len(tc.want)/2, 2, tc.want)) || fmt.Sprint(h) != fmt.Sprint(tc.header) || (h == nil) != (tc.header == nil) {
				t.Errorf("got %v header %q, want %v header %q", mat.Formatted(x), h, tc.want, tc.header)
			}
		})
	}
}

// TestCSVHeaderRoundTrip writes headers whose names need quoting and reads
// them back.
func TestCSVHeaderRoundTrip(t *testing.T) {
	for _, names := range [][]string{
		{"a", "b"},
		{"a,b", `say "hi"`},
		{"x;y"},
		{"#1", "tab\tstop"},
		{" padded ", "ü"},
	} {
		var b bytes.Buffer
		x := mat.NewDense(1, len(names), nil)
		for j := range names {
			x.Set(0, j, float64(j)+0.5)
		}
		if err := writeCSV(&b, names, x); err != nil {
			t.Fatal(err)
		}
		y, h, err := parseCSV("t", b.Bytes())
		if err != nil {
			t.Errorf("%q: %v\n%s", names, err, b.String())
			continue
		}
		// The reader trims spaces around names.
		want := make([]string, len(names))
		for i, s := range names {
			want[i] = strings.TrimSpace(s)
		}
		if strings.Join(h, "|") != strings.Join(want, "|") || !mat.Equal(x, y) {
			t.Errorf("%q: read back %q, %v\n%s", names, h, mat.Formatted(y), b.String())
		}
	}
}

// TestTableReaderBatches reads tables in batches of several sizes and
// compares the rows with those read at once.
func TestTableReaderBatches(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	sb.WriteString("a,b,c\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "%v,%v,%v\n", rnd.NormFloat64(), rnd.NormFloat64(), rnd.NormFloat64())
		if i%97 == 0 {
			sb.WriteString("# a comment\n\n")
		}
	}
	want, _, err := parseCSV("t", []byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range []int{1, 3, 128, 999, 1000, 5000} {
		tr, err := newTableReader("t", strings.NewReader(sb.String()))
		if err != nil {
			t.Fatal(err)
		}
		var got []float64
		buf := make([]float64, rows*3)
		for {
			n, err := tr.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 || n > rows {
				t.Fatalf("batches of %d: read %d rows", rows, n)
			}
			got = append(got, buf[:n*3]...)
		}
		if !mat.Equal(want, mat.NewDense(len(got)/3, 3, got)) {
			t.Errorf("batches of %d: the rows differ", rows)
		}
	}
}

// lineRE matches the line that an error about a table's content names.
var lineRE = regexp.MustCompile(`^t: line \d+(, column \d+)?: `)

// FuzzCSV reads arbitrary bytes as a table, at once and in batches of 2
// rows: no panic, the same rows or the same error both ways, and every error
// names the line, or is about the file as a whole.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n3,4\n",
		"\ufeff1;2\n3;4,5\n",
		"nan,inf\n1,2\n",
		"1\t2\n\"3\n",
		"# c\n\n  \n1e999,2\n",
		"x\n",
		"1,2\n3\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, h, err := parseCSV("t", data)
		tr, err2 := newTableReader("t", bytes.NewReader(data))
		var got []float64
		if err2 == nil {
			buf := make([]float64, 2*tr.Cols())
			for {
				n, err := tr.Read(buf)
				if err == io.EOF {
					break
				}
				if err != nil {
					err2 = err
					break
				}
				got = append(got, buf[:n*tr.Cols()]...)
			}
		}
		if err != nil {
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("at once: %v; in batches: %v", err, err2)
			}
			msg := err.Error()
			if !lineRE.MatchString(msg) && msg != "t: empty file: no rows of data" && msg != "t: no rows of data after the header" {
				t.Fatalf("the error names no line: %v", err)
			}
			return
		}
		if err2 != nil {
			t.Fatalf("at once: no error; in batches: %v", err2)
		}
		r, c := x.Dims()
		if len(got) != r*c || !mat.Equal(x, mat.NewDense(r, c, got)) {
			t.Fatalf("at once %v, in batches %v", mat.Formatted(x), got)
		}
		if h != nil && len(h) != c {
			t.Fatalf("a header of %d names for %d columns", len(h), c)
		}
	})
}
