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

// readCSV reads a numeric table: one sample per row, comma-separated (or
// tab-separated when the first line has tabs and no commas). A first row of
// which no field is a number is a header. Blank lines and lines starting
// with # are skipped. Every problem is an error naming the file, line and
// column.
func readCSV(name string) (*mat.Dense, []string, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
		name = "standard input"
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, nil, err
	}
	return parseCSV(name, data)
}

func parseCSV(name string, data []byte) (*mat.Dense, []string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fmt.Errorf("%s: empty file: no rows of data", name)
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.Comment = '#'
	r.ReuseRecord = true
	first, _, _ := bufio.NewReader(bytes.NewReader(data)).ReadLine()
	if !bytes.ContainsRune(first, ',') && bytes.ContainsRune(first, '\t') {
		r.Comma = '\t'
	}
	var header []string
	var vals []float64
	cols := 0
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, fmt.Errorf("%s: line %d, column %d: %v", name, pe.Line, pe.Column, pe.Err)
			}
			return nil, nil, fmt.Errorf("%s: %v", name, err)
		}
		line, _ := r.FieldPos(0)
		if rows == 0 && header == nil && cols == 0 {
			numeric := 0
			for _, f := range rec {
				if _, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil {
					numeric++
				}
			}
			if numeric == 0 {
				header = append([]string(nil), rec...)
				for i := range header {
					header[i] = strings.TrimSpace(header[i])
				}
				cols = len(rec)
				continue
			}
			cols = len(rec)
		}
		if len(rec) != cols {
			what := "first row"
			if header != nil {
				what = "header"
			}
			return nil, nil, fmt.Errorf("%s: line %d, column %d: ragged row: %d columns, the %s has %d", name, line, min(len(rec), cols)+1, len(rec), what, cols)
		}
		for j, f := range rec {
			s := strings.TrimSpace(f)
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				var ne *strconv.NumError
				if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
					return nil, nil, fmt.Errorf("%s: line %d, column %d: %q is out of the range of float64", name, line, j+1, s)
				}
				return nil, nil, fmt.Errorf("%s: line %d, column %d: %q is not a number", name, line, j+1, s)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("%s: line %d, column %d: %s is not a finite number", name, line, j+1, s)
			}
			vals = append(vals, v)
		}
		rows++
	}
	if rows == 0 {
		return nil, nil, fmt.Errorf("%s: no rows of data after the header", name)
	}
	return mat.NewDense(rows, cols, vals), header, nil
}

// writeCSV writes the rows of x with an optional header, every number in
// the shortest form that reads back exactly.
func writeCSV(w io.Writer, header []string, x mat.Matrix) error {
	bw := bufio.NewWriter(w)
	if header != nil {
		bw.WriteString(strings.Join(header, ","))
		bw.WriteByte('\n')
	}
	r, c := x.Dims()
	var buf []byte
	for i := 0; i < r; i++ {
		buf = buf[:0]
		for j := 0; j < c; j++ {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, x.At(i, j), 'g', -1, 64)
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
