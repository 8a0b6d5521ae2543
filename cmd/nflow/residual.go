// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import "fmt"

// maxResidual is the most residual blocks a conditioner may have, the
// limit of flow.CouplingConfig.ResidualBlocks and
// flow.MADEConfig.ResidualBlocks.
const maxResidual = 64

// checkResidual returns a usage error unless -residual is in [0, 64] and,
// when it is not 0, -hidden gives one width, that of the residual blocks:
// residual conditioners of the coupling flows (realnvp, nsf) or residual
// MADEs of the autoregressive ones (maf, nsf-ar).
func (o *modelOptions) checkResidual(hidden []int) error {
	r := o.residual
	if r < 0 || r > maxResidual {
		return usageError{fmt.Sprintf("-residual: %d, want 0 to %d", r, maxResidual)}
	}
	if r == 0 {
		return nil
	}
	if len(hidden) != 1 {
		return usageError{fmt.Sprintf("-residual %d: the residual blocks need one -hidden width, not %d", r, len(hidden))}
	}
	return nil
}
