// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/nfgo/flow"
)

// Table is the layout of the lines of a numeric table, the rules of nflow
// logprob's input applied line by line:
//
//   - Fields are separated by Sep, one of ',', '\t' and ';' (0 means ',').
//     A field may be quoted as in encoding/csv; spaces around it are
//     ignored. Each field is a finite number with a decimal point.
//   - Blank lines, lines of spaces and lines starting with # are skipped.
//     A trailing carriage return and a leading UTF-8 byte order mark are
//     not part of a line.
//   - A line equal to Header is skipped, so that a header repeated at the
//     top of every file of a glob is no row of data.
//
// With a Header, its names choose the model's columns as nflow logprob's
// header does: for a model with column names they must be the model's, in
// order; for a conditional model with data and context names they may be
// in any order.
type Table struct {
	Sep    rune
	Header string
	// Cols is the number of fields of the table's first line, 0 if not
	// known. A table whose first line has the wrong number of columns for
	// the model is an error when the pipeline is built.
	Cols int
}

// ReadTable returns the layout of the files that glob matches, read from
// the first line that is neither blank nor a comment in the first of them
// in lexical order: the separator, chosen as nflow does (commas, unless
// the line has tabs and no comma, or semicolons and either no comma or
// only decimal commas), and the line as Header if none of its fields is a
// finite number.
func ReadTable(ctx context.Context, glob string) (Table, error) {
	fs, err := filesystem.New(ctx, glob)
	if err != nil {
		return Table{}, err
	}
	defer fs.Close()
	files, err := fs.List(ctx, glob)
	if err != nil {
		return Table{}, err
	}
	if len(files) == 0 {
		return Table{}, fmt.Errorf("%s: no such file", glob)
	}
	slices.Sort(files)
	r, err := fs.OpenRead(ctx, files[0])
	if err != nil {
		return Table{}, err
	}
	defer r.Close()
	line, err := firstLine(bufio.NewReader(r))
	if err == io.EOF {
		return Table{}, fmt.Errorf("%s: empty file: no rows of data", files[0])
	}
	if err != nil {
		return Table{}, fmt.Errorf("%s: %w", files[0], err)
	}
	t := Table{Sep: separator(line)}
	fields, err := splitLine(nil, line, byte(t.Sep))
	if err != nil {
		return Table{}, fmt.Errorf("%s: first line: %w", files[0], err)
	}
	t.Cols = len(fields)
	if isHeader(fields, byte(t.Sep)) {
		t.Header = line
	}
	return t, nil
}

// maxLineBytes bounds the first line ReadTable reads.
const maxLineBytes = 1 << 20

// firstLine returns the first line of r that is neither blank nor a
// comment, normalised as trimLine does.
func firstLine(r *bufio.Reader) (string, error) {
	for first := true; ; first = false {
		var b []byte
		for {
			chunk, isPrefix, err := r.ReadLine()
			if err != nil {
				if err == io.EOF && len(b) > 0 {
					break
				}
				return "", err
			}
			b = append(b, chunk...)
			if len(b) > maxLineBytes {
				return "", fmt.Errorf("a line longer than %d bytes", maxLineBytes)
			}
			if !isPrefix {
				break
			}
		}
		line := string(b)
		if first {
			line = strings.TrimPrefix(line, bom)
		}
		if s := strings.TrimSpace(line); s != "" && s[0] != '#' {
			return trimLine(line), nil
		}
	}
}

// bom is the UTF-8 byte order mark.
const bom = "\xef\xbb\xbf"

// trimLine returns line without a trailing carriage return and a leading
// byte order mark.
func trimLine(line string) string {
	line = strings.TrimSuffix(line, "\r")
	return strings.TrimPrefix(line, bom)
}

// skipLine reports whether a trimmed line holds no row: blank, a comment.
func skipLine(line string) bool {
	return line == "" || line[0] == '#' || strings.TrimSpace(line) == ""
}

// separator chooses the field separator from the first line of a table.
func separator(line string) rune {
	var comma, tab, semi int
	quoted := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ',':
			comma++
		case c == '\t':
			tab++
		case c == ';':
			semi++
		}
	}
	switch {
	case tab > 0 && comma == 0:
		return '\t'
	case semi > 0 && comma == 0:
		return ';'
	case semi > 0:
		// 1,5;2,5: semicolons between numbers with decimal commas.
		for _, f := range strings.Split(line, ";") {
			if _, ok := decimalComma(strings.TrimSpace(f)); !ok {
				return ','
			}
		}
		return ';'
	}
	return ','
}

// decimalComma reports whether s is a number written with one decimal
// comma (1,5), and returns the number.
func decimalComma(s string) (float64, bool) {
	if strings.Count(s, ",") != 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	return v, err == nil
}

// isHeader reports whether none of fields is a finite number, so that the
// line is a header of column names.
func isHeader(fields []string, sep byte) bool {
	for _, f := range fields {
		s := strings.TrimSpace(f)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil && sep != ',' {
			if w, ok := decimalComma(s); ok {
				v, err = w, nil
			}
		}
		if err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// splitLine appends the fields of line, separated by sep, to dst[:0] and
// returns them, spaces around each removed. A line with a double quote is
// read by encoding/csv's rules.
func splitLine(dst []string, line string, sep byte) ([]string, error) {
	dst = dst[:0]
	if strings.IndexByte(line, '"') < 0 {
		for {
			i := strings.IndexByte(line, sep)
			if i < 0 {
				return append(dst, strings.TrimSpace(line)), nil
			}
			dst = append(dst, strings.TrimSpace(line[:i]))
			line = line[i+1:]
		}
	}
	r := csv.NewReader(strings.NewReader(line))
	r.Comma = rune(sep)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	rec, err := r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("character %d: %v", pe.Column, pe.Err)
		}
		return nil, err
	}
	if _, err := r.Read(); err != io.EOF {
		return nil, errors.New("more than one record on the line")
	}
	for _, f := range rec {
		dst = append(dst, strings.TrimSpace(f))
	}
	return dst, nil
}

// parseField returns the number in field j (counted from 0) of a line
// separated by sep, or the reason it is not a finite number.
func parseField(s string, j int, sep byte) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		switch {
		case errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange):
			return 0, fmt.Errorf("column %d: %q is out of the range of float64", j+1, s)
		case sep != ',':
			if _, ok := decimalComma(s); ok {
				return 0, fmt.Errorf("column %d: %q has a decimal comma: write numbers with a decimal point (%s)", j+1, s, strings.Replace(s, ",", ".", 1))
			}
		}
		return 0, fmt.Errorf("column %d: %q is not a number", j+1, s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("column %d: %s is not a finite number", j+1, s)
	}
	return v, nil
}

// columns returns, for each field of a line of t, the position of its
// value in the model's row of data then context, by the rules of nflow
// logprob: the fields in order, or, when the model has names for both its
// data and its context and t a header, the fields of those names wherever
// they are. A table of the wrong width, and a header whose names are not
// the model's, are errors.
func (t Table) columns(m *Model) ([]int, error) {
	f := m.Flow()
	d, c := f.Dim(), f.ContextDim()
	var header []string
	if t.Header != "" {
		h, err := splitLine(nil, trimLine(t.Header), byte(t.Sep))
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		header = h
	}
	cols := t.Cols
	if header != nil {
		cols = len(header)
	}
	if cols != 0 && cols != d+c {
		if c == 0 {
			return nil, fmt.Errorf("the table has %s, the model %s has dimension %d", count(cols, "column"), m.path, d)
		}
		return nil, fmt.Errorf("the table has %s, the model %s wants %d: its %s, then the %s of the context, on each row",
			count(cols, "column"), m.path, d+c, count(d, "data column"), count(c, "column"))
	}
	idx := make([]int, d+c) // idx[k]: the field of the model's column k
	for k := range idx {
		idx[k] = k
	}
	names, cnames := f.Names(), f.ContextNames()
	switch {
	case header == nil:
	case c > 0 && names != nil && cnames != nil:
		for k, name := range append(names, cnames...) {
			j := slices.Index(header, name)
			if j < 0 {
				return nil, fmt.Errorf("no column %q in the header (%s); the model %s has the data columns %s and the context %s",
					name, strings.Join(header, ","), m.path, strings.Join(names, ","), strings.Join(cnames, ","))
			}
			idx[k] = j
		}
	default:
		if err := checkColumns(header[:d], m.path, names); err != nil {
			return nil, err
		}
		if err := checkColumns(header[d:], m.path, cnames); err != nil {
			return nil, err
		}
	}
	pos := make([]int, d+c) // pos[j]: the model's column of field j
	for k, j := range idx {
		pos[j] = k
	}
	return pos, nil
}

// checkColumns returns an error if the header's names and the model's
// both exist and differ.
func checkColumns(header []string, model string, names []string) error {
	if names == nil || slices.Equal(header, names) {
		return nil
	}
	if slices.Equal(slices.Sorted(slices.Values(header)), slices.Sorted(slices.Values(names))) {
		return fmt.Errorf("the columns are reordered: the header has %s, the model %s wants %s, in that order", strings.Join(header, ","), model, strings.Join(names, ","))
	}
	for i := range header {
		if header[i] != names[i] {
			return fmt.Errorf("column %d is %q, the model %s has %q there (the model's columns are %s)", i+1, header[i], model, names[i], strings.Join(names, ","))
		}
	}
	return nil
}

// count writes n of a noun: "1 column", "3 columns".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// rowParser parses the lines of a table into rows of a model's data then
// context.
type rowParser struct {
	sep    byte
	header string
	pos    []int // pos[j]: the position in the row of field j's value
	fields []string
}

// lineKind says what a line of a table is.
type lineKind int

const (
	lineRow     lineKind = iota // a row of numbers
	lineSkipped                 // blank, a comment or the header
	lineBad                     // a row that cannot be read
)

// parse writes the row that line, trimmed by trimLine, holds into dst,
// len(pos) values, and returns what the line is, with the reason for a bad
// one.
func (p *rowParser) parse(dst []float64, line string) (lineKind, error) {
	if skipLine(line) || line == p.header && p.header != "" {
		return lineSkipped, nil
	}
	var err error
	p.fields, err = splitLine(p.fields, line, p.sep)
	if err != nil {
		return lineBad, err
	}
	if len(p.fields) != len(p.pos) {
		return lineBad, fmt.Errorf("%s, want %d", count(len(p.fields), "column"), len(p.pos))
	}
	for j, s := range p.fields {
		v, err := parseField(s, j, p.sep)
		if err != nil {
			return lineBad, err
		}
		dst[p.pos[j]] = v
	}
	return lineRow, nil
}

// checkRow returns an error if row, of the model's data then context, has
// the wrong length or a value that is not finite.
func checkRow(f *flow.Flow, row []float64) error {
	if n := f.Dim() + f.ContextDim(); len(row) != n {
		return fmt.Errorf("%d values, want %d", len(row), n)
	}
	for j, v := range row {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("column %d: %v is not a finite number", j+1, v)
		}
	}
	return nil
}
