// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

//go:generate go run ./internal/gengolden -out testdata/golden

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/nfgo/flow/internal/jsonfmt"
)

// FormatName and FormatVersion identify the model format that MarshalFlow
// writes and UnmarshalFlow reads. FORMAT.md documents it field by field.
const (
	FormatName    = "nfgo-flow"
	FormatVersion = 1
)

// maxFormatSize bounds every dimension, width and length read from a model
// document, so that products of them cannot overflow.
const maxFormatSize = 1 << 24

// FormatError is the error UnmarshalFlow and MarshalFlow return for a model
// that does not fit the format. Path names the offending field, as in
// "layers[2].conditioner[1].weights"; it is empty for the document as a
// whole.
type FormatError struct {
	Path string
	Msg  string
}

func (e *FormatError) Error() string {
	if e.Path == "" {
		return "flow: model: " + e.Msg
	}
	return "flow: model: " + e.Path + ": " + e.Msg
}

func formatErr(path, format string, args ...any) error {
	return &FormatError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// modelDoc is the JSON document of a flow.
type modelDoc struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Dim     int    `json:"dim"`
	// Context is C ≥ 1 for a conditional flow, absent (nil) for C = 0.
	Context      *int        `json:"context,omitempty"`
	Names        []string    `json:"names,omitempty"`
	ContextNames []string    `json:"context_names,omitempty"`
	Base         *baseDoc    `json:"base"`
	Layers       []*layerDoc `json:"layers"`
}

// baseDoc is the base distribution (FORMAT.md §2.1). Which fields it has
// depends on Type; the others must be absent.
type baseDoc struct {
	Type string `json:"type"`

	// diag_normal: μ and log σ, D values each.
	Mean   []float64 `json:"mean,omitempty"`
	LogStd []float64 `json:"log_std,omitempty"`

	// diag_normal_mixture: K, the K logits of the weights, and the K
	// components' means and log σ, K×D row-major each.
	Components *int      `json:"components,omitempty"`
	Logits     []float64 `json:"logits,omitempty"`
	Means      []float64 `json:"means,omitempty"`
	LogStds    []float64 `json:"log_stds,omitempty"`

	// conditional_diag_normal: C, and the network from c to [μ ; log σ].
	Context    *int        `json:"context,omitempty"`
	Activation string      `json:"activation,omitempty"`
	Hidden     []int       `json:"hidden,omitempty"`
	Network    []*denseDoc `json:"network,omitempty"`
}

// layerDoc is one layer. Which fields it has depends on Type; the others
// must be absent.
type layerDoc struct {
	Type string `json:"type"`
	Dim  int    `json:"dim"`

	// coupling, maf, iaf: the context dimension C of a layer that
	// conditions on one, absent (nil) for a layer without a context.
	Context *int `json:"context,omitempty"`

	// permutation
	Perm []int `json:"perm,omitempty"`

	// standardize
	Shift []float64 `json:"shift,omitempty"`
	Scale []float64 `json:"scale,omitempty"`

	// coupling
	Mask     []int    `json:"mask,omitempty"`
	Coupling string   `json:"coupling,omitempty"`
	Clamp    *float64 `json:"clamp,omitempty"`

	// coupling "rqspline", maf and iaf with transform "rqspline": the
	// spline's constants (RQSpline), all required there and absent on
	// every other layer.
	Bins          *int     `json:"bins,omitempty"`
	Bound         *float64 `json:"bound,omitempty"`
	MinWidth      *float64 `json:"min_width,omitempty"`
	MinHeight     *float64 `json:"min_height,omitempty"`
	MinDerivative *float64 `json:"min_derivative,omitempty"`

	// coupling, maf, iaf
	Activation string `json:"activation,omitempty"`
	Hidden     []int  `json:"hidden,omitempty"`

	// coupling: the residual blocks R ≥ 1 of a residual conditioner,
	// absent (nil) for R = 0, a plain one.
	ResidualBlocks *int `json:"residual_blocks,omitempty"`

	// maf, iaf
	Transform string  `json:"transform,omitempty"`
	Order     []int   `json:"order,omitempty"`
	Degrees   [][]int `json:"degrees,omitempty"`

	// coupling: the conditioner; maf, iaf: the MADE
	Conditioner []*denseDoc `json:"conditioner,omitempty"`
	MADE        []*denseDoc `json:"made,omitempty"`

	// inverse
	Layer *layerDoc `json:"layer,omitempty"`

	// lu_linear (and perm): the signs of U's diagonal, L's and U's strict
	// triangles, log|u_ii| and the bias (format_lu.go)
	Signs   []int     `json:"signs,omitempty"`
	Lower   []float64 `json:"lower,omitempty"`
	Upper   []float64 `json:"upper,omitempty"`
	LogDiag []float64 `json:"log_diag,omitempty"`
	Bias    []float64 `json:"bias,omitempty"`

	// actnorm (and shift); batch_norm: log_scale, shift and these
	LogScale    []float64 `json:"log_scale,omitempty"`
	Initialized *bool     `json:"initialized,omitempty"`

	// batch_norm: the stored statistics and ε (format_lu.go)
	Mean     []float64 `json:"mean,omitempty"`
	Variance []float64 `json:"variance,omitempty"`
	Epsilon  *float64  `json:"epsilon,omitempty"`
}

// denseDoc is one dense layer y = W·x + b, W out×in row-major.
type denseDoc struct {
	In      int       `json:"in"`
	Out     int       `json:"out"`
	Mask    []int     `json:"mask,omitempty"` // MADE only: out×in of 0 and 1
	Weights []float64 `json:"weights"`
	Biases  []float64 `json:"biases"`
}

// MarshalFlow returns the JSON document of f in the model format of
// FORMAT.md. Every float64 is written in its shortest form that reads back
// to the same value, so UnmarshalFlow(MarshalFlow(f)) computes bit-identical
// results, given the same contexts for a conditional flow. A conditional
// flow (ContextDim C > 0) records C in the document and on every layer that
// conditions on the context (and on a conditional base), and its context
// names beside the data's. The base is written in the document's base
// section. It returns an error for a layer type the format does not hold (a
// custom Layer or CouplingFunc), a non-finite parameter or a nil flow.
func MarshalFlow(f *Flow) ([]byte, error) {
	if f == nil {
		return nil, errors.New("flow: MarshalFlow: nil *Flow")
	}
	doc := modelDoc{
		Format:       FormatName,
		Version:      FormatVersion,
		Dim:          f.Dim(),
		Context:      contextField(f.c),
		Names:        f.names,
		ContextNames: f.cnames,
	}
	base, err := marshalBase(f.base)
	if err != nil {
		return nil, err
	}
	doc.Base = base
	for i, l := range f.layers {
		ld, err := marshalLayer(fmt.Sprintf("layers[%d]", i), l)
		if err != nil {
			return nil, err
		}
		doc.Layers = append(doc.Layers, ld)
	}
	b, err := jsonfmt.MarshalIndent(&doc)
	if err != nil {
		return nil, fmt.Errorf("flow: MarshalFlow: %w", err)
	}
	return b, nil
}

// contextField returns the context field of a document or layer of context
// dimension c: nil, which leaves it out, for c = 0.
func contextField(c int) *int {
	if c == 0 {
		return nil
	}
	return &c
}

func checkFiniteDoc(path string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return formatErr(fmt.Sprintf("%s[%d]", path, i), "%v is not a finite number", x)
		}
	}
	return nil
}

func boolsToInts(m []bool) []int {
	v := make([]int, len(m))
	for i, b := range m {
		if b {
			v[i] = 1
		}
	}
	return v
}

func marshalLayer(path string, l Layer) (*layerDoc, error) {
	ld := &layerDoc{Dim: l.Dim()}
	switch l := l.(type) {
	case *Permutation:
		ld.Type = "permutation"
		ld.Perm = l.Perm()
	case *Standardize:
		ld.Type = "standardize"
		ld.Shift, ld.Scale = l.Shift(), l.Scale()
		if err := checkFiniteDoc(path+".shift", ld.Shift); err != nil {
			return nil, err
		}
		if err := checkFiniteDoc(path+".scale", ld.Scale); err != nil {
			return nil, err
		}
	case *Inverted:
		ld.Type = "inverse"
		inner, err := marshalLayer(path+".layer", l.L)
		if err != nil {
			return nil, err
		}
		ld.Layer = inner
	case *Coupling:
		ld.Type = "coupling"
		ld.Context = contextField(l.nc)
		ld.Mask = boolsToInts(l.mask)
		switch h := l.h.(type) {
		case Affine:
			ld.Coupling = "affine"
			c := h.Clamp
			ld.Clamp = &c
		case Additive:
			ld.Coupling = "additive"
		case RQSpline:
			ld.Coupling = "rqspline"
			if err := h.validate(); err != nil {
				return nil, formatErr(path+".coupling", "%v", err)
			}
			k, b, mw, mh, md := h.Bins, h.Bound, h.MinWidth, h.MinHeight, h.MinDerivative
			ld.Bins, ld.Bound, ld.MinWidth, ld.MinHeight, ld.MinDerivative = &k, &b, &mw, &mh, &md
		default:
			return nil, formatErr(path+".coupling", "coupling function %T is not in the format", l.h)
		}
		ld.Activation = l.cond.act.String()
		ld.Hidden = l.Hidden()
		if r := l.cond.blocks; r > 0 {
			ld.ResidualBlocks = &r
		}
		for k := 1; k <= l.cond.numLayers(); k++ {
			w, b, _ := l.cond.layer(l.params, k)
			in, out := l.cond.dense(k)
			dd := &denseDoc{
				In: in, Out: out,
				Weights: append([]float64(nil), w...),
				Biases:  append([]float64(nil), b...),
			}
			p := fmt.Sprintf("%s.conditioner[%d]", path, k-1)
			if err := checkFiniteDoc(p+".weights", dd.Weights); err != nil {
				return nil, err
			}
			if err := checkFiniteDoc(p+".biases", dd.Biases); err != nil {
				return nil, err
			}
			ld.Conditioner = append(ld.Conditioner, dd)
		}
	default:
		if err := marshalMoreLayer(path, l, ld); err != nil {
			return nil, err
		}
	}
	return ld, nil
}

// UnmarshalFlow reads a flow from its JSON document in the model format of
// FORMAT.md. It validates everything, the format name and version, every
// dimension and shape, the context dimension of the document and of every
// layer, masks, permutations, degrees, names, and that every number is
// finite, and returns a *FormatError naming the offending field for a
// document that is truncated, corrupt, of another version or inconsistent.
// No input makes it panic.
func UnmarshalFlow(data []byte) (*Flow, error) {
	var doc modelDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, formatErr("", "data after the end of the document at byte %d", dec.InputOffset())
	}
	if doc.Format != FormatName {
		return nil, formatErr("format", "%q, want %q", doc.Format, FormatName)
	}
	if doc.Version != FormatVersion {
		return nil, formatErr("version", "%d, this package reads version %d", doc.Version, FormatVersion)
	}
	if doc.Base == nil {
		return nil, formatErr("base", "missing")
	}
	if doc.Dim < 1 || doc.Dim > maxFormatSize {
		return nil, formatErr("dim", "%d is not in [1, %d]", doc.Dim, maxFormatSize)
	}
	nc := 0
	if doc.Context != nil {
		nc = *doc.Context
		if nc < 1 || nc > maxFormatSize {
			return nil, formatErr("context", "%d is not in [1, %d] (a model without a context leaves the field out)", nc, maxFormatSize)
		}
	}
	if doc.Names != nil {
		if err := checkNames(doc.Names, doc.Dim); err != nil {
			return nil, formatErr("names", "%v", err)
		}
	}
	if doc.ContextNames != nil {
		if nc == 0 {
			return nil, formatErr("context_names", "present, but the model has no context")
		}
		if err := checkNames(doc.ContextNames, nc); err != nil {
			return nil, formatErr("context_names", "%v", err)
		}
		for i, n := range doc.ContextNames {
			for j, m := range doc.Names {
				if n == m {
					return nil, formatErr(fmt.Sprintf("context_names[%d]", i), "%q is also the name of data column %d (names[%d])", n, j, j)
				}
			}
		}
	}
	base, err := unmarshalBase(doc.Base, doc.Dim, nc)
	if err != nil {
		return nil, err
	}
	if len(doc.Layers) == 0 {
		return nil, formatErr("layers", "no layers")
	}
	layers := make([]Layer, len(doc.Layers))
	for i, ld := range doc.Layers {
		path := fmt.Sprintf("layers[%d]", i)
		l, err := unmarshalLayer(path, ld, doc.Dim, nc, 0)
		if err != nil {
			return nil, err
		}
		layers[i] = l
	}
	f, err := NewWithBase(base, layers...)
	if err != nil {
		return nil, formatErr("layers", "%v", err)
	}
	if f.c != nc {
		// Every layer's context and the base's were checked against the
		// document's, so this is a document with a context that nothing
		// conditions on.
		return nil, formatErr("context", "%d, but no layer conditions on a context (no coupling, maf or iaf layer has a \"context\" field, nor the base)", nc)
	}
	f.names = doc.Names
	f.cnames = doc.ContextNames
	return f, nil
}

// jsonError turns an error of encoding/json into a FormatError that says
// where in the document it happened.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return formatErr("", "empty document")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return formatErr(pathAt(data, int64(len(data))), "truncated: the document ends after %d bytes", len(data))
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		return formatErr(pathAt(data, syn.Offset), "corrupt at line %d, column %d: %v", line, col, syn)
	case errors.As(err, &typ):
		line, col := lineCol(data, typ.Offset)
		return formatErr(pathAt(data, typ.Offset), "line %d, column %d: a JSON %s cannot be %s", line, col, typ.Value, typ.Type)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return formatErr("", "%s", msg)
}

// lineCol returns the 1-based line and column of byte offset off in data.
func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	col = int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// pathAt returns the path of the value being read at byte offset off of
// data, such as "layers[1].conditioner[0].weights[17]".
func pathAt(data []byte, off int64) string {
	type frame struct {
		array bool
		key   string
		idx   int
		isKey bool // an object's next string token is a key
	}
	var stack []frame
	done := func() { // a value ended
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].idx++
			} else {
				stack[n-1].isKey = true
			}
		}
	}
	path := func() string {
		var sb strings.Builder
		for i, f := range stack {
			switch {
			case f.array:
				fmt.Fprintf(&sb, "[%d]", f.idx)
			case f.key != "" && !f.isKey:
				if i > 0 {
					sb.WriteByte('.')
				}
				sb.WriteString(f.key)
			}
		}
		return sb.String()
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.InputOffset() < off {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{isKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].isKey {
				stack[n-1].key = t
				stack[n-1].isKey = false
				continue
			}
			if dec.InputOffset() >= off {
				return path()
			}
			done()
		default:
			if dec.InputOffset() >= off {
				// The value that ends at off is the one in error.
				return path()
			}
			done()
		}
	}
	return path()
}

// disallow returns an error if any of the named fields is present.
func disallow(path, typ string, fields map[string]bool) error {
	for _, name := range []string{"context", "perm", "shift", "scale", "mask", "coupling", "clamp", "bins", "bound", "min_width", "min_height", "min_derivative", "activation", "hidden", "residual_blocks", "transform", "order", "degrees", "conditioner", "made", "layer", "signs", "lower", "upper", "log_diag", "bias", "log_scale", "initialized", "mean", "variance", "epsilon"} {
		if fields[name] {
			return formatErr(path+"."+name, "not a field of a %q layer", typ)
		}
	}
	return nil
}

// present lists the fields of ld other than type and dim that are present,
// minus those named in allowed.
func present(ld *layerDoc, allowed ...string) map[string]bool {
	m := map[string]bool{
		"context": ld.Context != nil,
		"perm":    ld.Perm != nil, "shift": ld.Shift != nil, "scale": ld.Scale != nil,
		"mask": ld.Mask != nil, "coupling": ld.Coupling != "", "clamp": ld.Clamp != nil,
		"activation": ld.Activation != "", "hidden": ld.Hidden != nil, "transform": ld.Transform != "", "order": ld.Order != nil,
		"degrees": ld.Degrees != nil, "conditioner": ld.Conditioner != nil, "made": ld.MADE != nil,
		"layer": ld.Layer != nil,
		"bins":  ld.Bins != nil, "bound": ld.Bound != nil, "min_width": ld.MinWidth != nil,
		"min_height": ld.MinHeight != nil, "min_derivative": ld.MinDerivative != nil,
		"signs": ld.Signs != nil, "lower": ld.Lower != nil, "upper": ld.Upper != nil, "log_diag": ld.LogDiag != nil,
		"bias": ld.Bias != nil, "log_scale": ld.LogScale != nil, "initialized": ld.Initialized != nil,
		"residual_blocks": ld.ResidualBlocks != nil,
		"mean":            ld.Mean != nil, "variance": ld.Variance != nil, "epsilon": ld.Epsilon != nil,
	}
	for _, a := range allowed {
		delete(m, a)
	}
	return m
}

// maxInverseDepth bounds the nesting of inverse layers.
const maxInverseDepth = 8

// layerContext returns the context dimension of the layer ld of a document
// of context dimension nc: 0 when its context field is absent, else the
// field, which must be nc.
func layerContext(path string, ld *layerDoc, nc int) (int, error) {
	if ld.Context == nil {
		return 0, nil
	}
	switch c := *ld.Context; {
	case c == nc:
		return c, nil
	case c == 0:
		return 0, formatErr(path+".context", "0: a layer without a context leaves the field out")
	case nc == 0:
		return 0, formatErr(path+".context", "%d, but the document has no context (no top-level \"context\" field)", c)
	default:
		return 0, formatErr(path+".context", "%d, the document's context is %d", c, nc)
	}
}

// unmarshalLayer reads the layer ld of a document of dimension dim and
// context dimension nc, nested depth inverse layers deep.
func unmarshalLayer(path string, ld *layerDoc, dim, nc, depth int) (Layer, error) {
	if ld == nil {
		return nil, formatErr(path, "null layer")
	}
	if ld.Dim != dim {
		return nil, formatErr(path+".dim", "%d, the flow has dimension %d", ld.Dim, dim)
	}
	switch ld.Type {
	case "permutation":
		if err := disallow(path, ld.Type, present(ld, "perm")); err != nil {
			return nil, err
		}
		if _, err := permutationField(path+".perm", ld.Perm, dim); err != nil {
			return nil, err
		}
		p, err := NewPermutation(ld.Perm)
		if err != nil {
			return nil, formatErr(path+".perm", "%v", err)
		}
		return p, nil
	case "standardize":
		if err := disallow(path, ld.Type, present(ld, "shift", "scale")); err != nil {
			return nil, err
		}
		if len(ld.Shift) != dim {
			return nil, formatErr(path+".shift", "%d values, want %d", len(ld.Shift), dim)
		}
		if len(ld.Scale) != dim {
			return nil, formatErr(path+".scale", "%d values, want %d", len(ld.Scale), dim)
		}
		if err := checkFiniteDoc(path+".shift", ld.Shift); err != nil {
			return nil, err
		}
		for i, s := range ld.Scale {
			if !(s > 0) || math.IsInf(s, 0) {
				return nil, formatErr(fmt.Sprintf("%s.scale[%d]", path, i), "%v is not a finite positive number", s)
			}
		}
		s, err := NewStandardize(ld.Shift, ld.Scale)
		if err != nil {
			return nil, formatErr(path, "%v", err)
		}
		return s, nil
	case "inverse":
		if err := disallow(path, ld.Type, present(ld, "layer")); err != nil {
			return nil, err
		}
		if ld.Layer == nil {
			return nil, formatErr(path+".layer", "missing")
		}
		if depth >= maxInverseDepth {
			return nil, formatErr(path+".layer", "inverse layers nested more than %d deep", maxInverseDepth)
		}
		inner, err := unmarshalLayer(path+".layer", ld.Layer, dim, nc, depth+1)
		if err != nil {
			return nil, err
		}
		return Invert(inner), nil
	case "coupling":
		return unmarshalCoupling(path, ld, dim, nc)
	case "":
		return nil, formatErr(path+".type", "missing")
	}
	return unmarshalMoreLayer(path, ld, dim, nc)
}

// parseActivation reads an activation's name.
func parseActivation(path, name string) (Activation, error) {
	var names []string
	for a := Activation(0); a < 64; a++ {
		if !a.valid() {
			continue
		}
		if a.String() == name {
			return a, nil
		}
		names = append(names, fmt.Sprintf("%q", a.String()))
	}
	return 0, formatErr(path, "%q is not an activation (%s)", name, strings.Join(names, ", "))
}

// checkHidden validates a list of hidden widths.
func checkHidden(path string, hidden []int) error {
	if len(hidden) > 64 {
		return formatErr(path, "%d hidden layers, at most 64", len(hidden))
	}
	for i, h := range hidden {
		if h < 1 || h > maxFormatSize {
			return formatErr(fmt.Sprintf("%s[%d]", path, i), "width %d is not in [1, %d]", h, maxFormatSize)
		}
	}
	return nil
}

// denseParams checks the dense layers ds against the widths sizes (sizes[0]
// inputs, then each layer's outputs) and returns their parameters laid out
// layer by layer, W (out×in, row-major) then b. name is the field holding
// them ("conditioner", "made"); in0, if not empty, says how the first
// layer's input width is made up ("|A| + C = 2 + 3").
func denseParams(path, name string, ds []*denseDoc, sizes []int, in0 string) ([]float64, error) {
	if len(ds) != len(sizes)-1 {
		return nil, formatErr(path+"."+name, "%d dense layers, want %d (%d hidden and the output)", len(ds), len(sizes)-1, len(sizes)-2)
	}
	var p []float64
	for k, dd := range ds {
		dp := fmt.Sprintf("%s.%s[%d]", path, name, k)
		if dd == nil {
			return nil, formatErr(dp, "null dense layer")
		}
		if name == "conditioner" && dd.Mask != nil {
			return nil, formatErr(dp+".mask", "not a field of a conditioner's dense layer: only a MADE's dense layers have masks")
		}
		in, out := sizes[k], sizes[k+1]
		if dd.In != in {
			if k == 0 && in0 != "" {
				return nil, formatErr(dp+".in", "%d, want %s = %d", dd.In, in0, in)
			}
			return nil, formatErr(dp+".in", "%d, want %d", dd.In, in)
		}
		if dd.Out != out {
			return nil, formatErr(dp+".out", "%d, want %d", dd.Out, out)
		}
		if int64(len(dd.Weights)) != int64(out)*int64(in) {
			return nil, formatErr(dp+".weights", "%d values, want %d×%d=%d", len(dd.Weights), out, in, int64(out)*int64(in))
		}
		if len(dd.Biases) != out {
			return nil, formatErr(dp+".biases", "%d values, want %d", len(dd.Biases), out)
		}
		if err := checkFiniteDoc(dp+".weights", dd.Weights); err != nil {
			return nil, err
		}
		if err := checkFiniteDoc(dp+".biases", dd.Biases); err != nil {
			return nil, err
		}
		p = append(p, dd.Weights...)
		p = append(p, dd.Biases...)
	}
	return p, nil
}

// unmarshalCoupling reads a coupling layer of a document of dimension dim
// and context dimension nc.
func unmarshalCoupling(path string, ld *layerDoc, dim, nc int) (Layer, error) {
	if err := disallow(path, ld.Type, present(ld, "context", "mask", "coupling", "clamp", splineFields[0], splineFields[1], splineFields[2], splineFields[3], splineFields[4], "activation", "hidden", "residual_blocks", "conditioner")); err != nil {
		return nil, err
	}
	lc, err := layerContext(path, ld, nc)
	if err != nil {
		return nil, err
	}
	if dim < 2 {
		return nil, formatErr(path+".dim", "%d: a coupling layer needs dimension ≥ 2", dim)
	}
	if len(ld.Mask) != dim {
		return nil, formatErr(path+".mask", "%d entries, want %d", len(ld.Mask), dim)
	}
	mask := make([]bool, dim)
	na := 0
	for i, m := range ld.Mask {
		if m != 0 && m != 1 {
			return nil, formatErr(fmt.Sprintf("%s.mask[%d]", path, i), "%d, want 0 or 1", m)
		}
		mask[i] = m == 1
		na += m
	}
	if na == 0 || na == dim {
		return nil, formatErr(path+".mask", "all %d: both halves must be non-empty", ld.Mask[0])
	}
	if ld.Coupling == "affine" || ld.Coupling == "additive" {
		// The spline's constants belong to a spline coupling alone.
		if err := noSplineFields(path, ld); err != nil {
			return nil, err
		}
	}
	var h CouplingFunc
	switch ld.Coupling {
	case "affine":
		c := 0.0
		if ld.Clamp != nil {
			c = *ld.Clamp
		}
		if !(c >= 0) || math.IsInf(c, 0) {
			return nil, formatErr(path+".clamp", "%v is not a finite non-negative number", c)
		}
		h = Affine{Clamp: c}
	case "additive":
		if ld.Clamp != nil {
			// Not even 0: an additive coupling has no scale to clamp, and
			// MarshalFlow never writes one (FORMAT.md §3.2).
			return nil, formatErr(path+".clamp", "not a field of an additive coupling, which has no scale to clamp (not even 0)")
		}
		h = Additive{}
	case "rqspline":
		if ld.Clamp != nil {
			return nil, formatErr(path+".clamp", "not a field of an rqspline coupling, which has no scale to clamp (not even 0)")
		}
		s, err := unmarshalSpline(path, ld, `an "rqspline" coupling`)
		if err != nil {
			return nil, err
		}
		h = s
	case "":
		return nil, formatErr(path+".coupling", "missing")
	default:
		return nil, formatErr(path+".coupling", "%q, want \"affine\", \"additive\" or \"rqspline\"", ld.Coupling)
	}
	act, err := parseActivation(path+".activation", ld.Activation)
	if err != nil {
		return nil, err
	}
	if err := checkHidden(path+".hidden", ld.Hidden); err != nil {
		return nil, err
	}
	blocks, err := residualBlocksField(path, ld)
	if err != nil {
		return nil, err
	}
	// The conditioner's input is [x_A ; c]: |A| + C values.
	if err := checkSize("the layer", couplingSizeBlocks(na+lc, dim-na, h.ParamsPerDim(), couplingTmpLen(h, dim-na), ld.Hidden, blocks)); err != nil {
		return nil, formatErr(path+".hidden", "%v", err)
	}
	sizes := residualChain(na+lc, ld.Hidden, h.ParamsPerDim()*(dim-na), blocks)
	in0 := ""
	if lc > 0 {
		in0 = fmt.Sprintf("|A| + C = %d + %d", na, lc)
	}
	if blocks > 0 && len(ld.Conditioner) != len(sizes)-1 {
		return nil, formatErr(path+".conditioner", "%d dense layers, want %d (the input layer, 2 per residual block and the output)", len(ld.Conditioner), len(sizes)-1)
	}
	p, err := denseParams(path, "conditioner", ld.Conditioner, sizes, in0)
	if err != nil {
		return nil, err
	}
	c, err := NewCoupling(CouplingConfig{Mask: mask, Hidden: ld.Hidden, Activation: act, Func: h, ContextDim: lc, ResidualBlocks: blocks})
	if err != nil {
		return nil, formatErr(path, "%v", err)
	}
	if len(p) != len(c.params) {
		return nil, formatErr(path+".conditioner", "%d parameters, want %d", len(p), len(c.params))
	}
	copy(c.params, p)
	return c, nil
}

// splineFields are the fields of an rqspline coupling's constants, in the
// order FORMAT.md §3.2 lists them.
var splineFields = [5]string{"bins", "bound", "min_width", "min_height", "min_derivative"}

// noSplineFields returns an error naming the first of the spline's
// constants present on the coupling ld, which is not an rqspline one.
func noSplineFields(path string, ld *layerDoc) error {
	have := [5]bool{ld.Bins != nil, ld.Bound != nil, ld.MinWidth != nil, ld.MinHeight != nil, ld.MinDerivative != nil}
	for i, name := range splineFields {
		if have[i] {
			return formatErr(path+"."+name, "not a field of an %q coupling: only an \"rqspline\" coupling has it", ld.Coupling)
		}
	}
	return nil
}

// unmarshalSpline reads the spline's constants of the layer ld, an rqspline
// coupling or a maf or iaf layer with an rqspline transform, named by what
// in the error for a missing one: every one is required and is checked as
// RQSpline.validate checks it, the error naming the field.
func unmarshalSpline(path string, ld *layerDoc, what string) (RQSpline, error) {
	have := [5]bool{ld.Bins != nil, ld.Bound != nil, ld.MinWidth != nil, ld.MinHeight != nil, ld.MinDerivative != nil}
	for i, name := range splineFields {
		if !have[i] {
			return RQSpline{}, formatErr(path+"."+name, "missing: %s needs bins, bound, min_width, min_height and min_derivative", what)
		}
	}
	s := RQSpline{Bins: *ld.Bins, Bound: *ld.Bound, MinWidth: *ld.MinWidth, MinHeight: *ld.MinHeight, MinDerivative: *ld.MinDerivative}
	k := float64(s.Bins)
	switch {
	case s.Bins < 1 || s.Bins > maxSplineBins:
		return RQSpline{}, formatErr(path+".bins", "%d is not in [1, %d]", s.Bins, maxSplineBins)
	case !(s.Bound >= splineMinBound && s.Bound <= splineMaxBound):
		return RQSpline{}, formatErr(path+".bound", "%v is not in [%g, %g]", s.Bound, splineMinBound, splineMaxBound)
	case !(s.MinWidth >= splineMinBin && k*s.MinWidth < 1):
		return RQSpline{}, formatErr(path+".min_width", "%v, want it in [%g, 1/bins) = [%g, 1/%d)", s.MinWidth, splineMinBin, splineMinBin, s.Bins)
	case !(s.MinHeight >= splineMinBin && k*s.MinHeight < 1):
		return RQSpline{}, formatErr(path+".min_height", "%v, want it in [%g, 1/bins) = [%g, 1/%d)", s.MinHeight, splineMinBin, splineMinBin, s.Bins)
	case !(s.MinDerivative >= splineMinDeriv && s.MinDerivative < 1):
		return RQSpline{}, formatErr(path+".min_derivative", "%v, want it in [%g, 1)", s.MinDerivative, splineMinDeriv)
	}
	if err := s.validate(); err != nil {
		// Unreachable while the checks above are validate's.
		return RQSpline{}, formatErr(path, "%v", err)
	}
	return s, nil
}

// maxSplineBins is RQSpline.validate's limit on the number of bins.
const maxSplineBins = 1 << 16

// permutationField checks that the field at path, perm, is a permutation of
// 0, …, dim−1, the error naming the entry that is not, and returns its
// inverse: pos[perm[p]] = p.
func permutationField(path string, perm []int, dim int) ([]int, error) {
	if len(perm) != dim {
		return nil, formatErr(path, "%d entries, want %d", len(perm), dim)
	}
	pos := make([]int, dim)
	for i := range pos {
		pos[i] = -1
	}
	for p, i := range perm {
		if i < 0 || i >= dim {
			return nil, formatErr(fmt.Sprintf("%s[%d]", path, p), "%d is outside [0, %d): not a permutation", i, dim)
		}
		if pos[i] >= 0 {
			return nil, formatErr(fmt.Sprintf("%s[%d]", path, p), "%d appears twice (entries %d and %d): not a permutation", i, pos[i], p)
		}
		pos[i] = p
	}
	return pos, nil
}
