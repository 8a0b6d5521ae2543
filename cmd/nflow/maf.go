// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"errors"

	"github.com/nfgo/flow"
)

// mafLayers returns the layers of a masked autoregressive flow.
func mafLayers(d, layers int, hidden []int, act flow.Activation, clamp float64, seed uint64) ([]flow.Layer, error) {
	return nil, errors.New("-model maf: MAF layers are not in this build yet; use -model realnvp")
}
