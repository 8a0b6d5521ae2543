// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import "fmt"

// maxResidual is the most residual blocks a conditioner may have, the
// limit of flow.CouplingConfig.ResidualBlocks.
const maxResidual = 64

// checkResidual returns a usage error unless -residual is in [0, 64] and,
// when it is not 0, the model is a coupling flow (realnvp or nsf) and
// -hidden gives one width, that of the residual blocks.
func (o *modelOptions) checkResidual(hidden []int) error {
	r := o.residual
	if r < 0 || r > maxResidual {
		return usageError{fmt.Sprintf("-residual: %d, want 0 to %d", r, maxResidual)}
	}
	if r == 0 {
		return nil
	}
	if o.kind != "realnvp" && o.kind != "nsf" {
		return usageError{fmt.Sprintf("-residual: residual conditioners are for -model realnvp and nsf, not %s", o.kind)}
	}
	if len(hidden) != 1 {
		return usageError{fmt.Sprintf("-residual %d: the residual blocks need one -hidden width, not %d", r, len(hidden))}
	}
	return nil
}
