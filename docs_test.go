// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flow

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDesignLayout holds docs/design.md's module layout to the repository:
// every file of the package (tests aside) and every directory of commands
// and internal packages is named there, so the next maintainer's map shows
// what is on disk.
func TestDesignLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## 7. Module layout")
	j := strings.Index(doc, "## 8.")
	if i < 0 || j < i {
		t.Fatal("docs/design.md has no section 7, Module layout, before section 8")
	}
	layout := doc[i:j]
	var want []string
	gofiles, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gofiles {
		if !strings.HasSuffix(f, "_test.go") {
			want = append(want, f)
		}
	}
	for _, root := range []string{"cmd", "internal"} {
		dirs, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			if d.IsDir() {
				want = append(want, root+"/"+d.Name()+"/")
			}
		}
	}
	for _, name := range want {
		if !strings.Contains(layout, "`"+name+"`") {
			t.Errorf("docs/design.md §7 does not name `%s`", name)
		}
	}
}

// TestSelfContained checks that the repository's code and documents refer
// to its own docs/design.md and to the literature, never to design notes
// kept outside it.
func TestSelfContained(t *testing.T) {
	// The character classes keep this file from matching itself.
	outside := regexp.MustCompile(`DESIG[N](\.md)? ?§|DESIG[N]\.md|the [s]eed.s |the [s]eed describes|[s]eed document`)
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(p); ext != ".go" && ext != ".md" && ext != ".s" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for n, line := range strings.Split(string(b), "\n") {
			if outside.MatchString(line) {
				t.Errorf("%s:%d refers to a document outside the repository: %s", p, n+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
