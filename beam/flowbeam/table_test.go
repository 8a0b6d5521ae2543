// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadTable checks the separator and header that ReadTable finds, and
// that it reads the first file of a glob.
func TestReadTable(t *testing.T) {
	dir := t.TempDir()
	for _, test := range []struct {
		text string
		want Table
	}{
		{"\xef\xbb\xbf# note\n\n  \nx,y\r\n1,2\n", Table{Sep: ',', Header: "x,y", Cols: 2}},
		{"1\t2\t3\n", Table{Sep: '\t', Cols: 3}},
		{"a\tb\n1\t2\n", Table{Sep: '\t', Header: "a\tb", Cols: 2}},
		{"1,5;2,5\n", Table{Sep: ';', Cols: 2}},
		{"a;b\n", Table{Sep: ';', Header: "a;b", Cols: 2}},
		{"nan,inf\n", Table{Sep: ',', Header: "nan,inf", Cols: 2}},
		{`"x, 1",y` + "\n", Table{Sep: ',', Header: `"x, 1",y`, Cols: 2}},
		{"1", Table{Sep: ',', Cols: 1}},
	} {
		path := filepath.Join(dir, "t.csv")
		if err := os.WriteFile(path, []byte(test.text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadTable(context.Background(), path)
		if err != nil || got != test.want {
			t.Errorf("ReadTable(%q) = %+v, %v, want %+v", test.text, got, err, test.want)
		}
	}

	glob := filepath.Join(dir, "part")
	writeLines(t, dir, "part-2.csv", []string{"1,2,3"})
	writeLines(t, dir, "part-1.csv", []string{"a,b"})
	if got, err := ReadTable(context.Background(), glob+"-*.csv"); err != nil || got.Header != "a,b" {
		t.Errorf("ReadTable of a glob = %+v, %v, want the header of part-1.csv", got, err)
	}
	if _, err := ReadTable(context.Background(), filepath.Join(dir, "none*.csv")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("ReadTable of no file: error %v", err)
	}
	empty := writeLines(t, dir, "empty.csv", []string{"# only a comment", ""})
	if _, err := ReadTable(context.Background(), empty); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Errorf("ReadTable of an empty file: error %v", err)
	}
}

// TestRowParser checks what parse makes of each kind of line, and the
// reasons for bad ones, as nflow logprob words them.
func TestRowParser(t *testing.T) {
	for _, test := range []struct {
		sep    byte
		line   string
		kind   lineKind
		row    []float64
		reason string
	}{
		{',', "1,2", lineRow, []float64{1, 2}, ""},
		{',', " 1 , -2.5e3 \r", lineRow, []float64{1, -2500}, ""},
		{',', "\xef\xbb\xbf1,2", lineRow, []float64{1, 2}, ""},
		{',', `"1", "2"`, lineRow, []float64{1, 2}, ""},
		{',', "", lineSkipped, nil, ""},
		{',', " \t ", lineSkipped, nil, ""},
		{',', "# 1,2", lineSkipped, nil, ""},
		{',', "h1,h2\r", lineSkipped, nil, ""},
		{',', "h2,h1", lineBad, nil, `column 1: "h2" is not a number`},
		{',', "1", lineBad, nil, "1 column, want 2"},
		{',', "1,2,3", lineBad, nil, "3 columns, want 2"},
		{',', "1,inf", lineBad, nil, "column 2: inf is not a finite number"},
		{',', "1e400,1", lineBad, nil, `column 1: "1e400" is out of the range of float64`},
		{';', "1,5;2", lineBad, nil, `column 1: "1,5" has a decimal comma: write numbers with a decimal point (1.5)`},
		{';', "1.5;2", lineRow, []float64{1.5, 2}, ""},
		{'\t', "1\t2", lineRow, []float64{1, 2}, ""},
		{',', `1,"2`, lineBad, nil, `character 5: extraneous or missing " in quoted-field`},
	} {
		header := "h1,h2"
		p := rowParser{sep: test.sep, header: header, pos: []int{0, 1}}
		row := make([]float64, 2)
		kind, err := p.parse(row, trimLine(test.line))
		reason := ""
		if err != nil {
			reason = err.Error()
		}
		if kind != test.kind || reason != test.reason || kind == lineRow && !slices.Equal(row, test.row) {
			t.Errorf("parse(%q, sep %q) = %v, %v, %q; want %v, %v, %q", test.line, test.sep, kind, row, reason, test.kind, test.row, test.reason)
		}
	}

	// pos places each field: a header of c1,x1 for data x1 and context c1.
	p := rowParser{sep: ',', pos: []int{1, 0}}
	row := make([]float64, 2)
	if kind, err := p.parse(row, "3,4"); kind != lineRow || err != nil || !slices.Equal(row, []float64{4, 3}) {
		t.Errorf("parse with pos [1 0] = %v, %v, %v; want [4 3]", kind, err, row)
	}
}
