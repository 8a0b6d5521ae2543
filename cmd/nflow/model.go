// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"fmt"
	"io"
	"os"

	"github.com/nfgo/flow"
)

// saveModel writes f atomically to name.
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

// loadModel reads a model file.
func loadModel(name string) (*flow.Flow, error) {
	if name == "" {
		return nil, usageError{"-model: no model file given"}
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	f, err := flow.UnmarshalFlow(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}
