// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/nfgo/flow"
)

// maxModelBytes bounds the size of a model file: 1 GiB, some 50 million
// parameters.
const maxModelBytes = 1 << 30

// saveModel writes f to name (see writeAtomic).
func saveModel(name string, stdout io.Writer, f *flow.Flow) error {
	b, err := flow.MarshalFlow(f)
	if err != nil {
		return err
	}
	return writeAtomic(name, stdout, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// loadModel reads a model file. A file larger than maxModelBytes is an
// error, and so is a stream (a pipe, a device) that does not start like a
// JSON object, so that /dev/zero is not read to the end of memory.
func loadModel(name string) (*flow.Flow, error) {
	if name == "" {
		return nil, usageError{"-model: no model file given"}
	}
	fd, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	var r io.Reader = fd
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory, not a model file", name)
	case fi.Mode().IsRegular():
		if fi.Size() > maxModelBytes {
			return nil, fmt.Errorf("%s: %d bytes: larger than a model file can be (%d)", name, fi.Size(), maxModelBytes)
		}
	default:
		br := bufio.NewReader(fd)
		head, _ := br.Peek(512)
		if s := bytes.TrimLeft(head, " \t\r\n"); len(s) > 0 && s[0] != '{' {
			return nil, fmt.Errorf("%s: not a model file: a model is a JSON object, starting with {", name)
		}
		r = br
	}
	b, err := io.ReadAll(io.LimitReader(r, maxModelBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxModelBytes {
		return nil, fmt.Errorf("%s: larger than a model file can be (%d bytes)", name, maxModelBytes)
	}
	f, err := flow.UnmarshalFlow(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}
