package main

import "github.com/bulkrevoke/bulkrevoke/report"

// orderReports puts a finished run's report and devices report in input-line order (issue 19):
// rows are written as they finish, invalid rows first and users in the order Graph answered,
// which is right for a crash (every row on disk the moment it is known) but not for reading.
// Each file is replaced atomically or not at all; a file that cannot be ordered stays as
// written, whole, and the run's outcome does not change. The changes journal keeps the order
// changes were made in, which is what a rollback reads it for.
func (r *runner) orderReports() {
	paths := []string{r.reportPath}
	if r.out.devices != nil {
		paths = append(paths, r.out.devices.Path())
	}
	if r.out.methods != nil {
		// Each method one row: the intents its answer settled go.
		if _, err := report.CompactMethods(r.out.methods.Path()); err != nil {
			r.logger.Warn("the methods report keeps its intent rows", "file", r.out.methods.Path(), "error", err)
		}
		paths = append(paths, r.out.methods.Path())
	}
	for _, p := range paths {
		if _, err := report.OrderByLine(p); err != nil {
			r.logger.Warn("left in the order its rows finished", "file", p, "error", err)
		}
	}
}
