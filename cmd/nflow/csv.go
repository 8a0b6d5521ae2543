// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// The numeric tables that nflow reads (fit's and logprob's -in, plot's
// -data) follow these rules, implemented by tableReader:
//
//   - One sample per row. A UTF-8 byte order mark at the start is skipped.
//   - The separator is a comma, unless the first line that is neither
//     blank nor a comment has, outside quotes, a tab and no comma (then
//     tabs), or a semicolon and either no comma or only fields with one
//     decimal comma each, like 1,5;2,5 (then semicolons).
//   - The first row is a header when none of its fields is a finite number
//     (with a decimal point, or a decimal comma where the separator is not
//     a comma), so that columns named nan or inf are still names. A data
//     row with NaN or ±Inf is an error.
//   - Blank lines, lines of spaces and lines starting with # are skipped.
//   - Every row has as many fields as the first; each field is a finite
//     number with a decimal point. A decimal comma (1,5 in a file separated
//     by semicolons) is an error that says so: 1,500 could as well be a
//     thousand and a half, so the reader does not guess.
//
// Every problem is an error naming the file, line and column (the column
// counted in fields).

// tableReader reads a numeric table row by row, in constant memory.
type tableReader struct {
	name   string
	r      *csv.Reader
	sep    rune
	header []string
	cols   int
	rows   int       // data rows returned so far
	first  []float64 // a first data row read while looking for the header
}

// csvPeek is how much of the input is examined to choose the separator.
const csvPeek = 64 << 10

// newTableReader reads the input up to its first row, which tells the
// number of columns and whether there is a header. name is the input's name
// in errors.
func newTableReader(name string, in io.Reader) (*tableReader, error) {
	br := bufio.NewReaderSize(in, csvPeek)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	head, err := br.Peek(csvPeek)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	t := &tableReader{name: name, r: csv.NewReader(br), sep: separator(firstLine(head))}
	t.r.Comma = t.sep
	t.r.FieldsPerRecord = -1
	t.r.TrimLeadingSpace = true
	t.r.Comment = '#'
	t.r.ReuseRecord = true

	rec, line, err := t.record()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file: no rows of data", name)
	}
	if err != nil {
		return nil, err
	}
	t.cols = len(rec)
	header := true
	for _, f := range rec {
		s := strings.TrimSpace(f)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil && t.sep != ',' {
			// 1,5 is a number, if one that parse refuses.
			if w, ok := decimalComma(s); ok {
				v, err = w, nil
			}
		}
		if err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			header = false
			break
		}
	}
	if header {
		t.header = make([]string, len(rec))
		for i, f := range rec {
			t.header[i] = strings.TrimSpace(f)
		}
		return t, nil
	}
	t.first = make([]float64, t.cols)
	if err := t.parse(t.first, rec, line); err != nil {
		return nil, err
	}
	return t, nil
}

// firstLine returns the first line of b that is neither blank nor a comment.
func firstLine(b []byte) []byte {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		s := bytes.TrimSpace(line)
		if len(s) > 0 && s[0] != '#' {
			return line
		}
	}
	return nil
}

// separator chooses the field separator from the first line of a table.
func separator(line []byte) rune {
	var comma, tab, semi int
	quoted := false
	for _, c := range line {
		switch {
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
		for _, f := range strings.Split(string(line), ";") {
			if _, ok := decimalComma(strings.TrimSpace(f)); !ok {
				return ','
			}
		}
		return ';'
	}
	return ','
}

// decimalComma reports whether s is a number written with one decimal comma
// (1,5), and returns the number.
func decimalComma(s string) (float64, bool) {
	if strings.Count(s, ",") != 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	return v, err == nil
}

// record returns the next record that is not a blank line and the line it
// starts on; io.EOF at the end of the input.
func (t *tableReader) record() ([]string, int, error) {
	for {
		rec, err := t.r.Read()
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, 0, fmt.Errorf("%s: line %d, column %d: %v", t.name, pe.Line, pe.Column, pe.Err)
			}
			return nil, 0, fmt.Errorf("%s: %v", t.name, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			// A line of spaces.
			continue
		}
		line, _ := t.r.FieldPos(0)
		return rec, line, nil
	}
}

// parse converts the fields of a data row on the given line into dst.
func (t *tableReader) parse(dst []float64, rec []string, line int) error {
	if len(rec) != t.cols {
		what := "first row"
		if t.header != nil {
			what = "header"
		}
		return fmt.Errorf("%s: line %d, column %d: ragged row: %d columns, the %s has %d", t.name, line, min(len(rec), t.cols)+1, len(rec), what, t.cols)
	}
	for j, f := range rec {
		s := strings.TrimSpace(f)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			var ne *strconv.NumError
			switch {
			case errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange):
				return fmt.Errorf("%s: line %d, column %d: %q is out of the range of float64", t.name, line, j+1, s)
			case t.sep != ',':
				if _, ok := decimalComma(s); ok {
					return fmt.Errorf("%s: line %d, column %d: %q has a decimal comma: write numbers with a decimal point (%s)", t.name, line, j+1, s, strings.Replace(s, ",", ".", 1))
				}
			}
			return fmt.Errorf("%s: line %d, column %d: %q is not a number", t.name, line, j+1, s)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: line %d, column %d: %s is not a finite number", t.name, line, j+1, s)
		}
		dst[j] = v
	}
	return nil
}

// Header returns the names in the table's header, nil if it has none.
func (t *tableReader) Header() []string { return t.header }

// Cols returns the number of columns.
func (t *tableReader) Cols() int { return t.cols }

// Read reads up to len(dst)/Cols() rows into dst, row-major, and returns
// how many it read; dst holds at least one row. At the end of the table it
// returns 0 and io.EOF; a table with a header and no data is an error.
func (t *tableReader) Read(dst []float64) (int, error) {
	c := t.cols
	n := 0
	if t.first != nil && len(dst) >= c {
		copy(dst, t.first)
		t.first = nil
		n++
	}
	for ; (n+1)*c <= len(dst); n++ {
		rec, line, err := t.record()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if err := t.parse(dst[n*c:(n+1)*c], rec, line); err != nil {
			return 0, err
		}
	}
	t.rows += n
	if n == 0 {
		if t.rows == 0 {
			return 0, fmt.Errorf("%s: no rows of data after the header", t.name)
		}
		return 0, io.EOF
	}
	return n, nil
}

// openTable opens a table file; "-" is standard input. The caller closes
// the returned closer.
func openTable(name string) (*tableReader, io.Closer, error) {
	if name == "-" {
		t, err := newTableReader("standard input", os.Stdin)
		return t, io.NopCloser(nil), err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is a directory, not a data file", name)
	}
	t, err := newTableReader(name, f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return t, f, nil
}

// readCSV reads a whole numeric table file into memory (see tableReader for
// the format); "-" is standard input.
func readCSV(name string) (*mat.Dense, []string, error) {
	t, c, err := openTable(name)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	return readTable(t)
}

// parseCSV reads a numeric table from data; name is its name in errors.
func parseCSV(name string, data []byte) (*mat.Dense, []string, error) {
	t, err := newTableReader(name, bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	return readTable(t)
}

// readTable reads the rest of t into a matrix.
func readTable(t *tableReader) (*mat.Dense, []string, error) {
	c := t.Cols()
	var vals []float64
	buf := make([]float64, max(1, 1<<14/c)*c)
	for {
		n, err := t.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		vals = append(vals, buf[:n*c]...)
	}
	return mat.NewDense(len(vals)/c, c, vals), t.Header(), nil
}

// csvWriter writes a numeric table, every number in the shortest form that
// reads back exactly. Its errors are sticky: once a write failed, the rest
// are skipped, and Err and Flush return the error.
type csvWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func newCSVWriter(w io.Writer) *csvWriter { return &csvWriter{w: bufio.NewWriterSize(w, 64<<10)} }

// header writes a header line, quoting the names that need it.
func (c *csvWriter) header(names []string) {
	c.buf = c.buf[:0]
	for i, s := range names {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		if s == "" || strings.ContainsAny(s, ",;\"\t\r\n#") || strings.TrimSpace(s) != s {
			// Quoted, so that the reader sees neither a separator nor
			// a comment, and keeps the spaces.
			c.buf = append(c.buf, '"')
			c.buf = append(c.buf, strings.ReplaceAll(s, `"`, `""`)...)
			c.buf = append(c.buf, '"')
		} else {
			c.buf = append(c.buf, s...)
		}
	}
	c.buf = append(c.buf, '\n')
	c.write()
}

// rows writes the rows of x (cols ≥ 1 columns, row-major) and, when last is
// not nil, one more column with last[i] at the end of row i.
func (c *csvWriter) rows(x []float64, cols int, last []float64) {
	for i := 0; i < len(x)/cols && c.err == nil; i++ {
		c.buf = c.buf[:0]
		for j, v := range x[i*cols : i*cols+cols] {
			if j > 0 {
				c.buf = append(c.buf, ',')
			}
			c.buf = strconv.AppendFloat(c.buf, v, 'g', -1, 64)
		}
		if last != nil {
			c.buf = append(c.buf, ',')
			c.buf = strconv.AppendFloat(c.buf, last[i], 'g', -1, 64)
		}
		c.buf = append(c.buf, '\n')
		c.write()
	}
}

func (c *csvWriter) write() {
	if c.err == nil {
		_, c.err = c.w.Write(c.buf)
	}
}

// Err returns the first error of a write.
func (c *csvWriter) Err() error { return c.err }

// Flush writes what is buffered and returns the first error of any write.
func (c *csvWriter) Flush() error {
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.err
}

// writeCSV writes the rows of x with an optional header, every number in
// the shortest form that reads back exactly.
func writeCSV(w io.Writer, header []string, x mat.Matrix) error {
	c := newCSVWriter(w)
	if header != nil {
		c.header(header)
	}
	r, cols := x.Dims()
	row := make([]float64, cols)
	for i := 0; i < r; i++ {
		mat.Row(row, i, x)
		c.rows(row, cols, nil)
	}
	return c.Flush()
}
