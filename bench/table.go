package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints one table of results, one row per runner, with the engine's speed-up over
// the sequential loop of the same scenario.
func WriteTable(w io.Writer, title string, rs []Result) error {
	if _, err := fmt.Fprintf(w, "%s\n", title); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "runner\tusers\ttime (emulated)\treal\tfloor\tratio\tsteps sent\t429s\t429 %\tearly retries\tlost\tpeak heap\t")
	for _, r := range rs {
		t := fmtDur(r.Time())
		if r.Extrapolated() {
			t = fmt.Sprintf("%s (x%d of %d)", t, r.Users/max(1, r.Measured), r.Measured)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%.2f\t%d\t%d\t%s\t\n",
			r.Runner, r.Users, t, r.Real.Round(10*time.Millisecond), fmtDur(r.Floor), fmtRatio(r.Ratio()),
			r.Steps, r.Throttled, percent(r.Throttled, r.Steps), r.EarlyRetries, r.Lost, fmtBytes(r.PeakHeap))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s, ok := Speedup(rs); ok {
		_, err := fmt.Fprintf(w, "bulkrevoke is %.2fx faster than the sequential loop\n", s)
		return err
	}
	return nil
}

// Speedup is the sequential loop's time over the engine's, when rs holds both.
func Speedup(rs []Result) (float64, bool) {
	var eng, seq time.Duration
	for _, r := range rs {
		switch r.Runner {
		case "bulkrevoke":
			eng = r.Time()
		case "sequential":
			seq = r.Time()
		}
	}
	if eng <= 0 || seq <= 0 {
		return 0, false
	}
	return float64(seq) / float64(eng), true
}

func percent(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func fmtDur(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return "never"
	}
	return d.Round(100 * time.Millisecond).String()
}

func fmtRatio(r float64) string {
	if math.IsInf(r, 1) {
		return "-"
	}
	return fmt.Sprintf("%.3f", r)
}

func fmtBytes(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
}

// WriteMatrix prints one line per scenario: the figures issue 9's targets are stated in, and
// the cell's limits when it has them, then the cells that missed them.
func WriteMatrix(w io.Writer, rs []Result) error {
	if _, err := fmt.Fprintln(w, "matrix"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfloor\ttime\tratio\tlimit\tthrottled %\tlimit\tearly retries\tlost\tfailed\twaits\twithin\t")
	var over []string
	for _, r := range rs {
		limit, tlimit, within := "-", "-", "-"
		if r.MaxRatio > 0 {
			limit = fmt.Sprintf("%.2f", r.MaxRatio)
		}
		if r.MaxThrottled > 0 {
			tlimit = fmt.Sprintf("%g", 100*r.MaxThrottled)
		}
		if r.MaxRatio > 0 || r.MaxThrottled > 0 {
			within = "yes"
			if o := r.Over(); len(o) > 0 {
				within = "NO"
				over = append(over, fmt.Sprintf("%s: %s", r.Scenario, strings.Join(o, ", ")))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%d\t%d\t%d\t%d\t%s\t\n", r.Scenario, fmtDur(r.Floor), fmtDur(r.Time()),
			fmtRatio(r.Ratio()), limit, percent(r.Throttled, r.Steps), tlimit, r.EarlyRetries, r.Lost, r.Failed, r.Waits, within)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(over) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nover a limit:\n  %s\n", strings.Join(over, "\n  "))
	return err
}
