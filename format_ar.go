// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

// layerTypes lists the layer types of the model format.
const layerTypes = `"coupling", "permutation", "standardize" or "inverse"`

// marshalMoreLayer writes the layer types that format.go does not.
func marshalMoreLayer(path string, l Layer, _ *layerDoc) error {
	return formatErr(path, "layer type %T is not in the format", l)
}

// unmarshalMoreLayer reads the layer types that format.go does not.
func unmarshalMoreLayer(path string, ld *layerDoc, _ int) (Layer, error) {
	return nil, formatErr(path+".type", "%q, want %s", ld.Type, layerTypes)
}
