// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import "fmt"

// RQSpline is the monotonic rational-quadratic spline coupling function of
// the neural spline flows of Durkan, Bekasov, Murray and Papamakarios (2019),
// after Gregory and Delbourgo (1982): on [−Bound, Bound] each transformed
// dimension is mapped by a spline of Bins rational-quadratic pieces whose
// bin widths, bin heights and interior knot derivatives come from the
// conditioner; outside it the map is the identity (linear tails, boundary
// derivatives 1). ParamsPerDim is 3·Bins − 1: Bins width logits, Bins height
// logits and Bins − 1 derivative logits, so that a zero conditioner output
// is exactly the identity map. See docs/design.md §1.5.
type RQSpline struct {
	// Bins is the number of bins K ≥ 1 and Bound the half-width B > 0 of
	// the interval [−B, B] the spline covers.
	Bins  int
	Bound float64
	// MinWidth and MinHeight are the smallest bin width and height, as
	// fractions of the interval's width 2B, and MinDerivative the smallest
	// knot derivative; each in (0, 1), with Bins·MinWidth < 1 and
	// Bins·MinHeight < 1.
	MinWidth, MinHeight, MinDerivative float64
}

// NewRQSpline returns the spline of K bins on [−B, B] with the minimum bin
// width, height and derivative of Durkan et al. (2019), 1e-3, or an error
// if K < 1 or B is not a positive finite number.
func NewRQSpline(bins int, bound float64) (RQSpline, error) {
	s := RQSpline{Bins: bins, Bound: bound, MinWidth: 1e-3, MinHeight: 1e-3, MinDerivative: 1e-3}
	return s, s.validate()
}

// validate returns an error unless the spline's constants are usable.
func (s RQSpline) validate() error {
	switch {
	case s.Bins < 1 || s.Bins > 1<<16:
		return fmt.Errorf("flow: RQSpline: %d bins, want 1 to %d", s.Bins, 1<<16)
	case !(s.Bound > 0) || s.Bound > 1e300:
		return fmt.Errorf("flow: RQSpline: bound %v, want a positive finite number", s.Bound)
	case !(s.MinWidth > 0 && float64(s.Bins)*s.MinWidth < 1):
		return fmt.Errorf("flow: RQSpline: minimum bin width %v, want it in (0, 1/%d)", s.MinWidth, s.Bins)
	case !(s.MinHeight > 0 && float64(s.Bins)*s.MinHeight < 1):
		return fmt.Errorf("flow: RQSpline: minimum bin height %v, want it in (0, 1/%d)", s.MinHeight, s.Bins)
	case !(s.MinDerivative > 0 && s.MinDerivative < 1):
		return fmt.Errorf("flow: RQSpline: minimum derivative %v, want it in (0, 1)", s.MinDerivative)
	}
	return nil
}

// ParamsPerDim returns 3·Bins − 1.
func (s RQSpline) ParamsPerDim() int { return 3*s.Bins - 1 }
