// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package flowbeam evaluates and samples flow models on Apache Beam:
// scoring many rows with a fitted density, and drawing many rows from it,
// on any Beam runner (Prism in process, Dataflow, Flink, Spark).
//
// A model is a model file (FORMAT.md of package flow). LoadModel reads and
// validates it when the pipeline is built; the transforms carry its path
// and digest, and each worker process reads it once, when the first DoFn
// that needs it is set up.
//
// ScoreLines scores the lines of a numeric table (as textio.Read gives
// them), ScoreRows rows of numbers with keys of any type. Both gather the
// rows of a bundle into batches for Flow.LogProb and send rows that cannot
// be scored, with the reason, to a dead-letter output. Sample draws N rows
// in blocks seeded by (seed, block), so that the rows do not depend on the
// runner or the number of workers.
package flowbeam
