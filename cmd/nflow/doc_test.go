// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocDefaults holds the numbers in the package documentation's usage
// lines (nflow fit … [-epochs 200]) to the flags' defaults, as -h prints
// them, so that go doc never states a default the command does not have.
func TestDocDefaults(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	usage := regexp.MustCompile(`(?m)^//\tnflow (\w+) (.*)$`)
	numeric := regexp.MustCompile(`-(\w+) ([0-9][0-9.,]*)\b`)
	defaults := regexp.MustCompile(`(?m)^  -(\w+) \w+\n\t?\s*.*\(default "?([^")]*)"?\)$`)
	checked := 0
	for _, m := range usage.FindAllStringSubmatch(string(src), -1) {
		cmd, line := m[1], m[2]
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{cmd, "-h"}, &stdout, &stderr); code != 0 {
			t.Fatalf("nflow %s -h: status %d\n%s", cmd, code, stderr.String())
		}
		def := map[string]string{}
		for _, d := range defaults.FindAllStringSubmatch(stderr.String(), -1) {
			def[d[1]] = d[2]
		}
		for _, f := range numeric.FindAllStringSubmatch(line, -1) {
			flag, doc := f[1], strings.TrimRight(f[2], ",.")
			got, ok := def[flag]
			if !ok {
				t.Errorf("the doc says nflow %s -%s %s; -h shows no default for -%s", cmd, flag, doc, flag)
				continue
			}
			if got != doc {
				t.Errorf("the doc says nflow %s -%s %s; the default is %s", cmd, flag, doc, got)
			}
			checked++
		}
	}
	if checked < 5 {
		t.Errorf("checked %d defaults in the package documentation, want at least 5", checked)
	}
}
