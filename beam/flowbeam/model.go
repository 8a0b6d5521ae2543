// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths

	"github.com/nfgo/flow"
)

// MaxModelBytes bounds the size of a model file: 1 GiB, as for nflow.
const MaxModelBytes = 1 << 30

// Model is a model file, read and validated when the pipeline is built.
// The transforms carry its path and the SHA-256 of its contents, not the
// model: each worker process reads the file once, when the first DoFn that
// uses it is set up, and fails if the contents differ from those read here.
type Model struct {
	path   string
	digest string
	f      *flow.Flow
}

// LoadModel reads and decodes the model file at path, which may be any
// path a registered Beam file system accepts (local paths always; gs://
// and others where their file system package is imported). The error of a
// file that fails validation is flow.UnmarshalFlow's, prefixed by the path.
func LoadModel(ctx context.Context, path string) (*Model, error) {
	b, err := readModel(ctx, path)
	if err != nil {
		return nil, err
	}
	f, err := flow.UnmarshalFlow(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Model{path: path, digest: digest(b), f: f}, nil
}

// Path returns the model file's path.
func (m *Model) Path() string { return m.path }

// Flow returns the decoded model. It is shared: callers must not change
// its parameters.
func (m *Model) Flow() *flow.Flow { return m.f }

// readModel returns the contents of the model file at path, refusing one
// larger than MaxModelBytes.
func readModel(ctx context.Context, path string) ([]byte, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	if n, err := fs.Size(ctx, path); err == nil && n > MaxModelBytes {
		return nil, fmt.Errorf("%s: %d bytes: larger than a model file can be (%d)", path, n, MaxModelBytes)
	}
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, MaxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxModelBytes {
		return nil, fmt.Errorf("%s: larger than a model file can be (%d bytes)", path, MaxModelBytes)
	}
	return b, nil
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// modelKey identifies a model file in a worker's cache: its path and the
// digest of its contents.
type modelKey struct{ path, digest string }

// models is the worker process's cache of decoded models. A Flow's
// evaluation methods may be called concurrently, so all DoFn instances of a
// process share one.
var models struct {
	sync.Mutex
	m map[modelKey]*modelEntry
}

type modelEntry struct {
	once sync.Once
	f    *flow.Flow
	err  error
}

// workerModel returns the decoded model file at path whose contents have
// the given digest, reading it on the first call in the process.
func workerModel(ctx context.Context, path, want string) (*flow.Flow, error) {
	k := modelKey{path, want}
	models.Lock()
	if models.m == nil {
		models.m = make(map[modelKey]*modelEntry)
	}
	e := models.m[k]
	if e == nil {
		e = &modelEntry{}
		models.m[k] = e
	}
	models.Unlock()
	e.once.Do(func() {
		b, err := readModel(ctx, path)
		if err != nil {
			e.err = err
			return
		}
		if got := digest(b); got != want {
			e.err = fmt.Errorf("%s changed after the pipeline was built: SHA-256 %s, want %s", path, got, want)
			return
		}
		e.f, e.err = flow.UnmarshalFlow(b)
		if e.err != nil {
			e.err = fmt.Errorf("%s: %w", path, e.err)
		}
	})
	if e.err != nil {
		// A failed read is not cached: a retried bundle reads again.
		models.Lock()
		if models.m[k] == e {
			delete(models.m, k)
		}
		models.Unlock()
	}
	return e.f, e.err
}
