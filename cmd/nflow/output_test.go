// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeString writes s to name through writeAtomic.
func writeString(name string, stdout io.Writer, s string) error {
	return writeAtomic(name, stdout, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

func readString(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTemps fails if dir holds a temporary file of writeAtomic.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	for _, n := range files(t, dir) {
		if strings.Contains(n, ".tmp") || strings.Contains(n, ".check") {
			t.Errorf("%s holds the temporary file %s", dir, n)
		}
	}
}

// TestWriteOutput writes to each kind of output: new and regular files are
// replaced atomically, links are followed, devices and FIFOs written in
// place.
func TestWriteOutput(t *testing.T) {
	dir := t.TempDir()
	at := func(n string) string { return filepath.Join(dir, n) }

	// A new file.
	if err := writeString(at("new.csv"), nil, "new"); err != nil {
		t.Fatal(err)
	}
	if s := readString(t, at("new.csv")); s != "new" {
		t.Errorf("new file: %q", s)
	}
	if fi, _ := os.Stat(at("new.csv")); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file: mode %v, want 0644", fi.Mode())
	}

	// A regular file is replaced (a new inode) and keeps its mode.
	writeFile(t, at("old.csv"), "old")
	if err := os.Chmod(at("old.csv"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(at("old.csv"))
	if err := writeString(at("old.csv"), nil, "replaced"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(at("old.csv"))
	if s := readString(t, at("old.csv")); s != "replaced" || after.Mode().Perm() != 0o600 || os.SameFile(before, after) {
		t.Errorf("regular file: %q, mode %v, same inode %v", s, after.Mode(), os.SameFile(before, after))
	}

	// A failed write leaves the file as it was.
	if err := writeAtomic(at("old.csv"), nil, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return errors.New("failed")
	}); err == nil || err.Error() != "failed" {
		t.Errorf("failed write: %v", err)
	}
	if s := readString(t, at("old.csv")); s != "replaced" {
		t.Errorf("after a failed write: %q", s)
	}

	// Links are followed: a chain, relative, through a linked directory,
	// and dangling (its target created).
	if err := os.Mkdir(at("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, at("sub/target.csv"), "target")
	for _, l := range [][2]string{
		{"sub/target.csv", at("link1")},
		{"link1", at("link2")},
		{"sub", at("subdir")},
		{"../sub/target.csv", at("sub/../sub/self")},
	} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{at("link2"), at("subdir/self"), at("link1")} {
		s := string(rune('a' + i))
		if err := writeString(name, nil, s); err != nil {
			t.Fatal(err)
		}
		if got := readString(t, at("sub/target.csv")); got != s {
			t.Errorf("%s: the target holds %q, want %q", name, got, s)
		}
	}
	for _, l := range []string{"link1", "link2", "subdir", "sub/self"} {
		if fi, err := os.Lstat(at(l)); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s is no longer a link: %v", l, err)
		}
	}
	if err := os.Symlink("sub/later.csv", at("dangling")); err != nil {
		t.Fatal(err)
	}
	if err := writeString(at("dangling"), nil, "later"); err != nil {
		t.Fatal(err)
	}
	if s := readString(t, at("sub/later.csv")); s != "later" {
		t.Errorf("dangling link: the target holds %q", s)
	}
	if err := os.Symlink("loop", at("loop")); err != nil {
		t.Fatal(err)
	}
	if err := writeString(at("loop"), nil, "x"); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("a loop of links: %v", err)
	}

	// A directory is an error.
	if err := writeString(at("sub"), nil, "x"); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}

	// Standard output.
	for _, name := range []string{"-", "", "/dev/stdout"} {
		var b bytes.Buffer
		if err := writeString(name, &b, "out"); err != nil || b.String() != "out" {
			t.Errorf("%q: wrote %q to stdout, %v", name, b.String(), err)
		}
	}

	// Devices stay devices.
	if err := writeString("/dev/null", nil, "nothing"); err != nil {
		t.Error(err)
	}
	if fi, err := os.Lstat("/dev/null"); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Errorf("/dev/null is no longer a device: %v %v", fi.Mode(), err)
	}
	if err := writeString("/dev/full", nil, "x"); err == nil || !strings.Contains(err.Error(), "no space") {
		t.Errorf("/dev/full: %v", err)
	}

	// A FIFO is written in place.
	if err := syscall.Mkfifo(at("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		b, _ := os.ReadFile(at("fifo"))
		got <- string(b)
	}()
	if err := writeString(at("fifo"), nil, "through the pipe"); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "through the pipe" {
		t.Errorf("FIFO: read %q", s)
	}
	if fi, err := os.Lstat(at("fifo")); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO is no longer one: %v", err)
	}
	noTemps(t, dir)
	noTemps(t, at("sub"))
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	at := func(n string) string { return filepath.Join(dir, n) }
	writeFile(t, at("file"), "x")
	if err := syscall.Mkfifo(at("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nodir/x", at("badlink")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, err string }{
		{"-", ""},
		{"", ""},
		{"/dev/stdout", ""},
		{"/dev/null", ""},
		{at("fifo"), ""},
		{at("new.json"), ""},
		{at("file"), ""},
		{at("nodir/model.json"), "directory " + at("nodir") + ": no such file or directory"},
		{at("file/model.json"), at("file") + " is not a directory"},
		{at("badlink"), "no such file or directory"},
		{at("") + "/nodir/../new.json", "directory " + at("") + "/nodir/..: no such file or directory"},
		{dir, "is a directory"},
	} {
		err := checkOutput(tc.name)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	if fi, err := os.Lstat(at("fifo")); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO is no longer one: %v", err)
	}
	noTemps(t, dir)
}

func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	at := func(n string) string { return filepath.Join(dir, n) }
	writeFile(t, at("a"), "a")
	writeFile(t, at("b"), "b")
	if err := os.Link(at("a"), at("hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", at("soft")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{at("a"), at("a"), true},
		{at("a"), dir + "/./a", true},
		{at("a"), at("hard"), true},
		{at("a"), at("soft"), true},
		{at("a"), at("b"), false},
		{at("a"), at("new"), false},
		{at("new"), at("new"), true},
		{"-", "-", false},
		{"", "", false},
		{"/dev/null", "/dev/null", false},
	} {
		if got := sameFile(tc.a, tc.b); got != tc.same {
			t.Errorf("sameFile(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

// TestOutputIsInput refuses to overwrite a command's input.
func TestOutputIsInput(t *testing.T) {
	dir := t.TempDir()
	moonsModel(t, filepath.Join(dir, "model.json"))
	moonsCSV(t, filepath.Join(dir, "data.csv"), 20, 1)
	if err := os.Link(filepath.Join(dir, "data.csv"), filepath.Join(dir, "hard.csv")); err != nil {
		t.Fatal(err)
	}
	model, data := readString(t, filepath.Join(dir, "model.json")), readString(t, filepath.Join(dir, "data.csv"))
	// plot writes only .png files: inputs under such names.
	writeFile(t, filepath.Join(dir, "m.png"), model)
	writeFile(t, filepath.Join(dir, "d.png"), data)
	for _, args := range [][]string{
		{"fit", "-in", "data.csv", "-out", "data.csv"},
		{"plot", "-model", "m.png", "-out", "m.png"},
		{"plot", "-model", "model.json", "-data", "d.png", "-out", "./d.png"},
		{"sample", "-model", "model.json", "-out", "model.json"},
		{"sample", "-model", "model.json", "-out", "./model.json"},
		{"logprob", "-model", "model.json", "-in", "data.csv", "-out", "data.csv"},
		{"logprob", "-model", "model.json", "-in", "data.csv", "-out", "hard.csv"},
		{"logprob", "-model", "model.json", "-in", "data.csv", "-out", "model.json"},
	} {
		r := nflow(t, dir, args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "nflow "+args[0]+": -out ") || !strings.Contains(r.stderr, "file: it would be overwritten") {
			t.Errorf("%v: status %d, %q", args, r.code, r.stderr)
		}
	}
	if readString(t, filepath.Join(dir, "model.json")) != model || readString(t, filepath.Join(dir, "data.csv")) != data ||
		readString(t, filepath.Join(dir, "m.png")) != model || readString(t, filepath.Join(dir, "d.png")) != data {
		t.Error("an input was changed")
	}
}

// TestInterruptedSample interrupts a large sample while it writes: the
// temporary file is removed, the previous output stays, exit status 130.
func TestInterruptedSample(t *testing.T) {
	if nflowBin == "" {
		t.Fatal("this test needs the built nflow as a process: it runs natively, and under emulation through qemu-" + qemuArch[runtime.GOARCH] + "-static, which is not on PATH")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		dir := t.TempDir()
		moonsModel(t, filepath.Join(dir, "model.json"))
		writeFile(t, filepath.Join(dir, "s.csv"), "previous\n")
		cmd := nflowCommand("sample", "-model", "model.json", "-n", "100000000", "-out", "s.csv")
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the temporary file has some data.
		deadline := time.Now().Add(time.Minute)
		for {
			m, _ := filepath.Glob(filepath.Join(dir, ".s.csv.tmp*"))
			if len(m) == 1 {
				if fi, err := os.Stat(m[0]); err == nil && fi.Size() > 1<<20 {
					break
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("%v: no temporary file with data after a minute: %v", sig, files(t, dir))
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("%v: exit %v, want status 130\n%s", sig, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("%v: no word of the interruption: %q", sig, stderr.String())
		}
		if fs := files(t, dir); strings.Join(fs, " ") != "model.json s.csv" {
			t.Errorf("%v: the directory holds %v", sig, fs)
		}
		if s := readString(t, filepath.Join(dir, "s.csv")); s != "previous\n" {
			t.Errorf("%v: the previous output was changed: %.40q", sig, s)
		}
	}
}

// TestInternalError runs a command that panics: exit status 3 with the
// panic and its stack, and its temporary file removed.
func TestInternalError(t *testing.T) {
	dir := t.TempDir()
	commands["panic"] = func(context.Context, []string, io.Writer, io.Writer) error {
		return writeAtomic(filepath.Join(dir, "out"), nil, func(w io.Writer) error {
			var s []int
			return errors.New(string(rune(s[1])))
		})
	}
	defer delete(commands, "panic")
	var so, se bytes.Buffer
	code := run(context.Background(), []string{"panic"}, &so, &se)
	if code != exitInternal || !strings.HasPrefix(se.String(), "nflow panic: internal error, please report it: runtime error: index out of range") || !strings.Contains(se.String(), "goroutine ") {
		t.Errorf("status %d, %q", code, se.String())
	}
	if fs := files(t, dir); len(fs) != 0 {
		t.Errorf("the directory holds %v", fs)
	}
	if len(temps.names) != 0 {
		t.Errorf("temporary files registered: %v", temps.names)
	}
}
