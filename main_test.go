package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bulkrevoke/bulkrevoke/report"
)

var update = flag.Bool("update", false, "rewrite golden files and testscript expectations")

// TestMain lets testscript scripts (and tests that need a real child process) run the
// program as the command "bulkrevoke".
func TestMain(m *testing.M) {
	testscript.Main(waitingTests{m}, map[string]func(){
		"bulkrevoke": func() { os.Exit(mainExit()) },
	})
}

// waitingTests runs more of this package's parallel tests at once than there are CPUs unless
// -parallel says otherwise: they spend most of their time waiting on emulated Graph latency over
// loopback and on child processes, and at go test's default of one per CPU, ten runs of the
// package under -race took longer than go test's ten minutes on two cores.
type waitingTests struct{ m *testing.M }

func (w waitingTests) Run() int {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", "8"); err != nil {
			panic(err)
		}
	}
	return w.m.Run()
}

func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script", nil))
}

// reportCols prints the named columns of a report, one row per line in input-line order: the
// stable part of a report, for cmp against a golden file (ids and times change every run).
//
//	reportcols report.csv line status error_code
func reportCols(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: reportcols FILE COLUMN...")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	rows, err := report.ReadReport(f)
	ts.Check(err)
	lines := make([]int, 0, len(rows))
	for l := range rows {
		lines = append(lines, l)
	}
	sort.Ints(lines)
	fmt.Fprintln(ts.Stdout(), strings.Join(args[1:], ","))
	for _, l := range lines {
		r := rows[l]
		var cells []string
		for _, col := range args[1:] {
			switch col {
			case "line":
				cells = append(cells, strconv.Itoa(r.Line))
			case "input":
				cells = append(cells, r.Input)
			case "status":
				cells = append(cells, string(r.Status))
			case "http_status":
				cells = append(cells, strconv.Itoa(r.HTTP))
			case "error_code":
				cells = append(cells, r.Code)
			case "attempts":
				cells = append(cells, strconv.Itoa(r.Attempts))
			case "note":
				cells = append(cells, r.Note)
			case "user_id":
				cells = append(cells, r.UserID)
			case "user_principal_name":
				cells = append(cells, r.UPN)
			default:
				ts.Fatalf("reportcols: unknown column %q", col)
			}
		}
		fmt.Fprintln(ts.Stdout(), strings.Join(cells, ","))
	}
}
