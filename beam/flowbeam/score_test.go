// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package flowbeam

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"gonum.org/v1/gonum/mat"
)

func init() {
	register.DoFn2x0[int, func(int, []float64)](&testRowFn{})
	register.Emitter2[int, []float64]()
}

// randomRows returns n rows of d numbers near the data of a standardised
// flow.
func randomRows(n, d int, seed uint64) [][]float64 {
	rnd := rand.New(rand.NewPCG(seed, 3))
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, d)
		for j := range rows[i] {
			rows[i][j] = 1.5 * rnd.NormFloat64()
		}
	}
	return rows
}

// csvLine writes a row as nflow sample does.
func csvLine(row []float64, sep string) string {
	s := make([]string, len(row))
	for j, v := range row {
		s[j] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(s, sep)
}

// TestScoreLines scores a table with a header, comments, blank lines,
// spaces, quotes, CRLF line ends and a repeated header in batches of 100
// rows, and checks every row's log-density against Flow.LogProb of all
// rows in one call, bit for bit, and that rows were evaluated in batches.
func TestScoreLines(t *testing.T) {
	dir := t.TempDir()
	f := testFlow(t, 3, 0)
	m := writeModel(t, dir, f)
	const n = 2500
	rows := randomRows(n, 3, 1)
	lines := []string{"# a comment", "x1,x2,x3"}
	keys := make([]string, n) // each row's line as the output gives it
	skipped := 2              // the comment and the header
	for i, row := range rows {
		line := csvLine(row, ",")
		switch i % 250 {
		case 1:
			line = " " + strings.ReplaceAll(line, ",", " , ") + " "
		case 2:
			line = `"` + strings.Replace(line, ",", `",`, 1)
		case 3:
			lines = append(lines, "", "   ", "#x")
			skipped += 3
		case 4:
			lines = append(lines, "x1,x2,x3")
			skipped++
		}
		keys[i] = line
		if i%250 == 5 {
			line += "\r"
		}
		lines = append(lines, line)
	}
	in := writeLines(t, dir, "data.csv", lines)
	tab, err := ReadTable(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Table{Sep: ',', Header: "x1,x2,x3", Cols: 3}); tab != want {
		t.Fatalf("ReadTable = %+v, want %+v", tab, want)
	}

	p, s := beam.NewPipelineWithRoot()
	res, err := ScoreLines(s, m, tab, textio.Read(s, in), ScoreOptions{BatchRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	scores := writeOut(s, dir, "scores", beam.ParDo(s, formatScore, res.Scores))
	bad := writeOut(s, dir, "bad", beam.ParDo(s, formatBadRow, res.Bad))
	counters, batches := run(t, p)

	x := mat.NewDense(n, 3, nil)
	for i, row := range rows {
		x.SetRow(i, row)
	}
	want := f.LogProb(nil, x)
	got := splitTab(t, readLines(t, scores))
	if len(got) != n {
		t.Errorf("%d scores, want %d", len(got), n)
	}
	for i, k := range keys {
		if g, w := got[k], strconv.FormatFloat(want[i], 'g', -1, 64); g != w {
			t.Errorf("row %d (%q): log p = %s, want %s", i, k, g, w)
		}
	}
	if b := readLines(t, bad); len(b) > 0 {
		t.Errorf("bad rows: %q", b)
	}
	if counters["rows"] != n || counters["bad"] != 0 || counters["skipped"] != int64(skipped) {
		t.Errorf("counters %v, want rows %d, bad 0, skipped %d", counters, n, skipped)
	}
	if batches.Sum != n || batches.Max > 100 || batches.Count < n/100 || batches.Sum < 10*batches.Count {
		t.Errorf("batches: %d of %d rows (min %d, max %d), want batches of up to 100 rows, 10 or more on average",
			batches.Count, batches.Sum, batches.Min, batches.Max)
	}
}

// TestScoreLinesBad sends every kind of bad row to the dead-letter output
// with its reason, and still scores the good rows among them.
func TestScoreLinesBad(t *testing.T) {
	dir := t.TempDir()
	f := testFlow(t, 3, 0)
	m := writeModel(t, dir, f)
	rows := randomRows(50, 3, 2)
	badRows := map[string]string{
		"1,2":           "2 columns, want 3",
		"1,2,3,4":       "4 columns, want 3",
		"1,abc,3":       `column 2: "abc" is not a number`,
		"1,NaN,3":       "column 2: NaN is not a finite number",
		"1,2,-Inf":      "column 3: -Inf is not a finite number",
		"1,2,1e999":     `column 3: "1e999" is out of the range of float64`,
		"a,b,c":         `column 1: "a" is not a number`,
		`1,"2,3`:        `character 7: extraneous or missing " in quoted-field`,
		"1,,3":          `column 2: "" is not a number`,
		"x1 ,x2, x3 ,x": "4 columns, want 3",
	}
	var lines []string
	i := 0
	for line := range badRows {
		lines = append(lines, csvLine(rows[i], ","), line)
		i++
	}
	for ; i < len(rows); i++ {
		lines = append(lines, csvLine(rows[i], ","))
	}
	in := writeLines(t, dir, "data.csv", lines)
	tab, err := ReadTable(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	res, err := ScoreLines(s, m, tab, textio.Read(s, in), ScoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scores := writeOut(s, dir, "scores", beam.ParDo(s, formatScore, res.Scores))
	bad := writeOut(s, dir, "bad", beam.ParDo(s, formatBadRow, res.Bad))
	counters, _ := run(t, p)

	gotBad := splitTab(t, readLines(t, bad))
	for line, reason := range badRows {
		if gotBad[line] != reason {
			t.Errorf("bad row %q: reason %q, want %q", line, gotBad[line], reason)
		}
	}
	if len(gotBad) != len(badRows) {
		t.Errorf("%d bad rows, want %d: %q", len(gotBad), len(badRows), gotBad)
	}
	x := mat.NewDense(len(rows), 3, nil)
	for i, row := range rows {
		x.SetRow(i, row)
	}
	want := f.LogProb(nil, x)
	got := splitTab(t, readLines(t, scores))
	if len(got) != len(rows) {
		t.Errorf("%d scores, want %d", len(got), len(rows))
	}
	for i, row := range rows {
		k := csvLine(row, ",")
		if g, w := got[k], strconv.FormatFloat(want[i], 'g', -1, 64); g != w {
			t.Errorf("row %d: log p = %s, want %s", i, g, w)
		}
	}
	if counters["rows"] != int64(len(rows)) || counters["bad"] != int64(len(badRows)) {
		t.Errorf("counters %v, want rows %d, bad %d", counters, len(rows), len(badRows))
	}
}

// TestScoreLinesContext scores a conditional model's table whose header
// names the columns in another order, tab-separated, against
// Flow.LogProbGiven.
func TestScoreLinesContext(t *testing.T) {
	dir := t.TempDir()
	f := testFlow(t, 2, 1)
	m := writeModel(t, dir, f)
	const n = 700
	rows := randomRows(n, 3, 3) // x1, x2, c1
	lines := []string{"c1\tx2\tx1"}
	for _, r := range rows {
		lines = append(lines, csvLine([]float64{r[2], r[1], r[0]}, "\t"))
	}
	in := writeLines(t, dir, "data.tsv", lines)
	tab, err := ReadTable(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	res, err := ScoreLines(s, m, tab, textio.Read(s, in), ScoreOptions{BatchRows: 64})
	if err != nil {
		t.Fatal(err)
	}
	scores := writeOut(s, dir, "scores", beam.ParDo(s, formatScore, res.Scores))
	run(t, p)

	x, c := mat.NewDense(n, 2, nil), mat.NewDense(n, 1, nil)
	for i, r := range rows {
		x.SetRow(i, r[:2])
		c.SetRow(i, r[2:])
	}
	want := f.LogProbGiven(nil, x, c)
	got := splitTab(t, readLines(t, scores))
	if len(got) != n {
		t.Errorf("%d scores, want %d", len(got), n)
	}
	for i := range rows {
		if g, w := got[lines[i+1]], strconv.FormatFloat(want[i], 'g', -1, 64); g != w {
			t.Errorf("row %d: log p = %s, want %s", i, g, w)
		}
	}
}

// testRowFn makes row i of the ScoreRows test: random numbers, with a NaN,
// an infinity or a missing value in some rows.
type testRowFn struct {
	Cols int `json:"cols"`
}

func (fn *testRowFn) ProcessElement(i int, emit func(int, []float64)) {
	emit(i, testRow(i, fn.Cols))
}

func testRow(i, cols int) []float64 {
	rnd := rand.New(rand.NewPCG(uint64(i), 5))
	row := make([]float64, cols)
	for j := range row {
		row[j] = rnd.NormFloat64()
	}
	switch i % 97 {
	case 10:
		row[1] = math.NaN()
	case 20:
		row[0] = math.Inf(-1)
	case 30:
		row = row[:cols-1]
	}
	return row
}

// TestScoreRows scores keyed rows of numbers of a conditional model
// against Flow.LogProbGiven and sends rows with NaN, ±Inf or the wrong
// length to the dead-letter output.
func TestScoreRows(t *testing.T) {
	dir := t.TempDir()
	f := testFlow(t, 2, 2)
	m := writeModel(t, dir, f)
	const n = 1000
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	p, s := beam.NewPipelineWithRoot()
	rows := beam.ParDo(s, &testRowFn{Cols: 4}, beam.CreateList(s, ids))
	res, err := ScoreRows(s, m, rows, ScoreOptions{BatchRows: 50})
	if err != nil {
		t.Fatal(err)
	}
	scores := writeOut(s, dir, "scores", beam.ParDo(s, formatIntScore, res.Scores))
	bad := writeOut(s, dir, "bad", beam.ParDo(s, formatIntBad, res.Bad))
	run(t, p)

	got := splitTab(t, readLines(t, scores))
	gotBad := splitTab(t, readLines(t, bad))
	x, c := mat.NewDense(1, 2, nil), mat.NewDense(1, 2, nil)
	for i := range n {
		k := strconv.Itoa(i)
		row := testRow(i, 4)
		var reason string
		switch i % 97 {
		case 10:
			reason = "column 2: NaN is not a finite number"
		case 20:
			reason = "column 1: -Inf is not a finite number"
		case 30:
			reason = "3 values, want 4"
		}
		if reason != "" {
			if gotBad[k] != reason || got[k] != "" {
				t.Errorf("row %d: bad %q, score %q; want bad %q", i, gotBad[k], got[k], reason)
			}
			continue
		}
		x.SetRow(0, row[:2])
		c.SetRow(0, row[2:])
		if g, w := got[k], strconv.FormatFloat(f.LogProbGiven(nil, x, c)[0], 'g', -1, 64); g != w {
			t.Errorf("row %d: log p = %s, want %s", i, g, w)
		}
	}
	if len(got)+len(gotBad) != n {
		t.Errorf("%d scores and %d bad rows, want %d in all", len(got), len(gotBad), n)
	}
}

// TestScoreErrors checks the errors of building a scoring pipeline: a
// header or width that does not fit the model, a bad separator, a
// windowed input.
func TestScoreErrors(t *testing.T) {
	dir := t.TempDir()
	m := writeModel(t, dir, testFlow(t, 3, 0))
	mc := writeModel(t, t.TempDir(), testFlow(t, 2, 1))
	for _, test := range []struct {
		m    *Model
		tab  Table
		want string
	}{
		{m, Table{Header: "x1,y,x3"}, `column 2 is "y", the model ` + m.Path() + ` has "x2" there (the model's columns are x1,x2,x3)`},
		{m, Table{Header: "x2,x1,x3"}, "the columns are reordered: the header has x2,x1,x3, the model " + m.Path() + " wants x1,x2,x3, in that order"},
		{m, Table{Cols: 2}, "the table has 2 columns, the model " + m.Path() + " has dimension 3"},
		{m, Table{Header: "x1;x2", Sep: ';'}, "the table has 2 columns, the model " + m.Path() + " has dimension 3"},
		{m, Table{Sep: ' '}, "separator ' ', want ',', '\\t' or ';'"},
		{mc, Table{Cols: 2}, "the table has 2 columns, the model " + mc.Path() + " wants 3: its 2 data columns, then the 1 column of the context, on each row"},
		{mc, Table{Header: "x1,x2,c"}, `no column "c1" in the header (x1,x2,c); the model ` + mc.Path() + " has the data columns x1,x2 and the context c1"},
	} {
		_, s := beam.NewPipelineWithRoot()
		_, err := ScoreLines(s, test.m, test.tab, beam.Create(s, "1,2,3"), ScoreOptions{})
		if err == nil || err.Error() != "flowbeam: ScoreLines: "+test.want {
			t.Errorf("table %+v: error %v, want %q", test.tab, err, "flowbeam: ScoreLines: "+test.want)
		}
	}
	_, s := beam.NewPipelineWithRoot()
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), beam.Create(s, "1,2,3"))
	if _, err := ScoreLines(s, m, Table{}, windowed, ScoreOptions{}); err == nil || !strings.Contains(err.Error(), "windowed") {
		t.Errorf("windowed lines: error %v, want one about windows", err)
	}
	if _, err := ScoreLines(s, m, Table{}, beam.Create(s, 1, 2), ScoreOptions{}); err == nil {
		t.Error("ScoreLines of ints: no error")
	}
	if _, err := ScoreRows(s, m, beam.Create(s, "1,2,3"), ScoreOptions{}); err == nil {
		t.Error("ScoreRows of strings: no error")
	}
	if _, err := ScoreLines(s, nil, Table{}, beam.Create(s, "1,2,3"), ScoreOptions{}); err == nil {
		t.Error("ScoreLines of a nil model: no error")
	}
}
