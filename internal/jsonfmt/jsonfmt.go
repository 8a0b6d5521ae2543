// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package jsonfmt lays out the indented JSON of model files and golden
// vectors: every array of numbers on one line, so that a file of weights
// stays readable.
package jsonfmt

import (
	"bytes"
	"encoding/json"
	"strings"
)

// MarshalIndent returns v as JSON indented by two spaces, every array of
// numbers on one line, ending in a newline.
func MarshalIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(CompactNumberArrays(b), '\n'), nil
}

// CompactNumberArrays rewrites the indented JSON b so that every array
// that holds no string, array or object stands on one line, "[1, 2, 3]".
// Strings are copied whole.
func CompactNumberArrays(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c == '"' {
			// Copy a string whole.
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			out.Write(b[i:min(j+1, len(b))])
			i = j + 1
			continue
		}
		if c != '[' {
			out.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		for j < len(b) && b[j] != ']' && b[j] != '[' && b[j] != '{' && b[j] != '"' {
			j++
		}
		if j == len(b) || b[j] != ']' {
			out.WriteByte(c)
			i++
			continue
		}
		out.WriteByte('[')
		fields := strings.FieldsFunc(string(b[i+1:j]), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
		out.WriteString(strings.Join(fields, ", "))
		out.WriteByte(']')
		i = j + 1
	}
	return out.Bytes()
}
