// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Output files. The -out flags name a file that is written in one of two
// ways, chosen by what the name is when the command writes:
//
//   - A regular file, or a name that does not exist yet, is replaced
//     atomically: the output goes to a temporary file .NAME.tmpNNN in the
//     same directory, renamed over NAME only when everything was written.
//     A failed or interrupted command leaves NAME as it was and no
//     temporary file (see removeTempsOnSignal).
//   - Anything else (a character device like /dev/null, a FIFO, a
//     terminal, /dev/stderr or /dev/fd/N) is written in place: opened for
//     writing, with no temporary file.
//
// A symbolic link is followed: its target (the end of a chain of links) is
// written or replaced, never the link. "-", "" and /dev/stdout mean standard
// output.

// outputKind says how an output is written.
type outputKind int

const (
	outputStdout  outputKind = iota // the command's standard output
	outputReplace                   // a regular or new file, replaced atomically
	outputInPlace                   // a device, FIFO or descriptor, written in place
)

// maxLinks is how many symbolic links resolveOutput follows.
const maxLinks = 40

// resolveOutput returns how name is written and the path to write: name
// with its chain of symbolic links followed. A directory is an error.
func resolveOutput(name string) (outputKind, string, error) {
	if name == "" || name == "-" || filepath.Clean(name) == "/dev/stdout" {
		return outputStdout, "", nil
	}
	p := name
	for hops := 0; ; hops++ {
		if isDescriptor(p) {
			// /proc/self/fd/1 is a link to the file behind the
			// descriptor (a pipe or a file opened by the shell), not a
			// path to replace: the kernel opens the file itself.
			return outputInPlace, p, nil
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			// A new file, or one whose directory is missing, which
			// writing and checkOutput report.
			return outputReplace, p, nil
		}
		if err != nil {
			return 0, "", err
		}
		switch m := fi.Mode(); {
		case m&fs.ModeSymlink != 0:
			if hops == maxLinks {
				return 0, "", fmt.Errorf("%s: more than %d symbolic links", name, maxLinks)
			}
			target, err := os.Readlink(p)
			if err != nil {
				return 0, "", err
			}
			if !filepath.IsAbs(target) {
				// Relative to the link's directory, with that
				// directory's own links resolved so that .. means
				// what the kernel takes it to mean.
				dir, err := filepath.EvalSymlinks(filepath.Dir(p))
				if err != nil {
					return 0, "", err
				}
				target = filepath.Join(dir, target)
			}
			p = target
		case m.IsDir():
			return 0, "", fmt.Errorf("%s is a directory", name)
		case m.IsRegular():
			return outputReplace, p, nil
		default:
			return outputInPlace, p, nil
		}
	}
}

// isDescriptor reports whether p names an open file descriptor, as
// /dev/fd/N and /proc/self/fd/N do on Linux.
func isDescriptor(p string) bool {
	p = filepath.Clean(p)
	if strings.HasPrefix(p, "/dev/fd/") {
		return true
	}
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return false
	}
	_, fd, ok := strings.Cut(rest, "/")
	return ok && strings.HasPrefix(fd, "fd/")
}

// osDir returns the directory of the path p as the kernel reads it: p up to
// its last separator, not cleaned, so that sub/../x keeps its sub (which
// must exist), where filepath.Dir would make it ".".
func osDir(p string) string {
	i := strings.LastIndexByte(p, filepath.Separator)
	switch {
	case i < 0:
		return "."
	case i == 0:
		return string(filepath.Separator)
	}
	return p[:i]
}

// checkOutput returns an error if name could not be written: it is a
// directory, or its directory is missing or takes no new files. An existing
// device or FIFO is fine. Commands that work long before they write (fit)
// call it first, so that a mistyped path fails before the work. name "-" or
// "" means stdout.
func checkOutput(name string) error {
	kind, p, err := resolveOutput(name)
	if err != nil || kind != outputReplace {
		return err
	}
	dir := osDir(p)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: directory %s: %v", name, dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", name, dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(p)+".check*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: cannot create a file in %s: %v", name, dir, err)
	}
	tmp.Close()
	return os.Remove(tmp.Name())
}

// writeAtomic writes the output name through write, which gets a buffered
// writer: to standard output, in place, or, for a regular or new file,
// atomically through a temporary file renamed over the target only when
// write succeeded (see Output files above). A replaced file keeps its
// permissions; a new one gets 0644.
func writeAtomic(name string, stdout io.Writer, write func(io.Writer) error) error {
	kind, p, err := resolveOutput(name)
	if err != nil {
		return err
	}
	switch kind {
	case outputStdout:
		bw := bufio.NewWriter(stdout)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	case outputInPlace:
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(f)
		err = write(bw)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}

	perm := fs.FileMode(0o644)
	if fi, err := os.Stat(p); err == nil {
		perm = fi.Mode().Perm()
	}
	tmp, err := createTemp(osDir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			removeTemp(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := commitTemp(tmp.Name(), p); err != nil {
		return err
	}
	ok = true
	return nil
}

// temps holds the temporary files that exist now: a signal removes them
// before the process exits.
var temps struct {
	sync.Mutex
	names map[string]bool
	sig   chan os.Signal
}

// createTemp creates a temporary file as os.CreateTemp does and registers
// it, so that SIGINT or SIGTERM removes it (see removeTempsOnSignal).
func createTemp(dir, pattern string) (*os.File, error) {
	temps.Lock()
	defer temps.Unlock()
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("cannot create a file in %s: %v", dir, pe.Err)
		}
		return nil, err
	}
	if temps.names == nil {
		temps.names = make(map[string]bool)
	}
	if len(temps.names) == 0 {
		temps.sig = make(chan os.Signal, 1)
		signal.Notify(temps.sig, os.Interrupt, syscall.SIGTERM)
		go removeTempsOnSignal(temps.sig)
	}
	temps.names[f.Name()] = true
	return f, nil
}

// removeTemp removes and unregisters a temporary file.
func removeTemp(name string) {
	temps.Lock()
	defer temps.Unlock()
	os.Remove(name)
	forget(name)
}

// commitTemp renames a temporary file over target and unregisters it, under
// the lock, so that a signal finds either the temporary file (and removes
// it) or the complete target.
func commitTemp(name, target string) error {
	temps.Lock()
	defer temps.Unlock()
	if err := os.Rename(name, target); err != nil {
		return err
	}
	forget(name)
	return nil
}

// forget unregisters name; the caller holds the lock. With no temporary
// file left, the signals have their usual effect again.
func forget(name string) {
	delete(temps.names, name)
	if len(temps.names) == 0 && temps.sig != nil {
		signal.Stop(temps.sig)
		close(temps.sig)
		temps.sig = nil
	}
}

// removeTempsOnSignal waits for SIGINT or SIGTERM while temporary files
// exist. On a signal it removes them all and ends the process with exit
// status 130, the target files untouched. A command that handles the
// signals itself (fit stops training and saves) still does, as long as no
// temporary file exists: fit's saving is quick, and a second Ctrl-C during
// it ends the process and leaves the previous file in place.
func removeTempsOnSignal(c chan os.Signal) {
	if _, ok := <-c; !ok {
		return
	}
	temps.Lock()
	for name := range temps.names {
		os.Remove(name)
	}
	if len(temps.names) > 0 {
		fmt.Fprintln(os.Stderr, "nflow: interrupted: the output file was not written")
	}
	os.Exit(130)
}

// sameFile reports whether the paths a and b name the same file: the same
// path, or two names (links) of one existing regular file. "-" and "" (the
// standard streams) and devices are never the same file. Commands refuse
// an output that would overwrite their input.
func sameFile(a, b string) bool {
	if a == "" || a == "-" || b == "" || b == "-" {
		return false
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return fa.Mode().IsRegular() && os.SameFile(fa, fb)
	}
	if errA == nil || errB == nil {
		return false
	}
	aa, errA := filepath.Abs(a)
	bb, errB := filepath.Abs(b)
	return errA == nil && errB == nil && aa == bb
}

// refuseSame returns a usage error if out (the -out flag) is the file in
// given by the flag inFlag (-in, -model).
func refuseSame(inFlag, in, out string) error {
	if sameFile(in, out) {
		return usageError{fmt.Sprintf("-out %s is the %s file: it would be overwritten", out, inFlag)}
	}
	return nil
}
