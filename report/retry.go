package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// RetryPath is the list of the rows worth another run that goes with a report:
// report.csv -> report.retry.csv.
func RetryPath(report string) string { return sibling(report, ".retry.csv") }

// Retryable reports whether a report row is worth another run as it is: it failed (Graph kept
// failing), or it was not attempted (never sent; sent with no answer back, code no_answer; cut
// off by --deadline or Ctrl-C, also while Graph was throttling the run). A denied, missing or
// invalid row needs a fix first, not another run.
func Retryable(r batch.Result) bool {
	return r.Status == batch.StatusFailed || r.Status == batch.StatusNotAttempted
}

// WriteRetry reads the report at reportPath and writes its retryable rows to path as a list
// --input reads: a header userPrincipalName (id when every row is an object id), each row's user
// as the list named it, and with withTenant a tenant column, tenant(r) giving each row's cell
// (the row's tenant_id when it gives ""). The file is created with mode 0600 and refused when it
// exists, unless force. A report with no retryable row writes no file (and touches none already
// there); WriteRetry returns how many rows it wrote.
func WriteRetry(reportPath, path string, force, withTenant bool, tenant func(batch.Result) string) (int, error) {
	n, ids := 0, 0
	err := scanReportFile(reportPath, func(r batch.Result) error {
		if Retryable(r) {
			n++
			if k, _ := retryKey(r); k == batch.KindObjectID {
				ids++
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	f, err := createFile(path, force, "retry list")
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int, error) {
		f.Close()
		os.Remove(path)
		return 0, err
	}
	cw := csv.NewWriter(f)
	header := []string{"userPrincipalName"}
	if ids == n {
		header[0] = "id"
	}
	if withTenant {
		header = append(header, "tenant")
	}
	cw.Write(header)
	written := 0
	err = scanReportFile(reportPath, func(r batch.Result) error {
		if !Retryable(r) {
			return nil
		}
		_, key := retryKey(r)
		rec := []string{key}
		if withTenant {
			t := r.TenantID
			if tenant != nil && tenant(r) != "" {
				t = tenant(r)
			}
			rec = append(rec, t)
		}
		written++
		return cw.Write(rec)
	})
	cw.Flush()
	err = errors.Join(err, cw.Error())
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return fail(fmt.Errorf("write retry list %s: %w", path, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return 0, fmt.Errorf("write retry list %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return written, nil
}

// retryKey is the user of a retryable row as a list names it: the cell as the input had it
// (it was a valid key, or the row would be invalid), else the key Graph knows.
func retryKey(r batch.Result) (batch.Kind, string) {
	for _, v := range []string{r.Input, r.UPN, r.UserID} {
		if k, _, _ := batch.Classify(v); k != batch.KindInvalid {
			return k, v
		}
	}
	return batch.KindInvalid, r.Input
}

func scanReportFile(path string, row func(batch.Result) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return ScanReport(io.Reader(f), path, row)
}
