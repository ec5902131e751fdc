package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// DevicesHeader is the devices report's first line, one row per device a run found.
var DevicesHeader = []string{
	"line", "tenant_id", "user", "device_object_id", "device_id", "display_name", "prior_account_enabled",
	"outcome", "http_status", "error_code", "error_message", "request_id", "completed_at",
}

var devicesTable = &table{what: "devices report", columns: DevicesHeader, required: len(DevicesHeader)}

var deviceOutcomes = map[batch.DeviceOutcome]bool{
	batch.DeviceDisabled: true, batch.DeviceAlreadyDisabled: true, batch.DeviceWouldDisable: true,
	batch.DeviceSynced: true, batch.DeviceFailed: true, batch.DeviceNotAttempted: true, batch.DeviceEnabled: true, batch.DeviceWouldEnable: true,
}

// DeviceJournal writes the devices report next to a report. It is a batch.DeviceSink, safe for
// concurrent use; rows reach the OS on Flush and the disk on Close.
type DeviceJournal struct {
	c *csvFile
}

var _ batch.DeviceSink = (*DeviceJournal)(nil)

// CreateDevices creates the devices report at path as Create does the report: mode 0600, an
// existing file refused unless force, the header on disk at once.
func CreateDevices(path string, force bool) (*DeviceJournal, error) {
	c, err := createWithHeader(path, force, "devices report", DevicesHeader)
	if err != nil {
		return nil, err
	}
	return &DeviceJournal{c: c}, nil
}

func newDeviceJournal(w io.Writer, f file, path string) *DeviceJournal {
	j := &DeviceJournal{c: newCSVFile(w, f, path, "devices report")}
	j.c.cw.Write(DevicesHeader)
	return j
}

// Path is the devices report's file name.
func (j *DeviceJournal) Path() string { return j.c.path }

// WriteDevices buffers one row per device.
func (j *DeviceJournal) WriteDevices(ds ...batch.DeviceResult) error {
	recs := make([][]string, len(ds))
	for i, d := range ds {
		if d.Line <= 0 {
			// A device without its user's line could not be matched to the report.
			return fmt.Errorf("write devices report: device %q has line %d; lines start at 1", d.ID, d.Line)
		}
		recs[i] = deviceRecord(d)
	}
	return j.c.write(recs...)
}

// Flush pushes buffered rows to the OS.
func (j *DeviceJournal) Flush() error { return j.c.Flush() }

// Close flushes, fsyncs and closes the file; it reports every step that failed.
func (j *DeviceJournal) Close() error { return j.c.Close() }

func deviceRecord(d batch.DeviceResult) []string {
	return []string{
		strconv.Itoa(d.Line),
		text(d.TenantID),
		text(d.User),
		text(d.ID),
		text(d.DeviceID),
		text(d.DisplayName),
		boolean(d.PriorEnabled),
		string(d.Outcome),
		number(d.HTTP),
		text(d.Code),
		text(d.Message),
		text(d.RequestID),
		timestamp(d.At),
	}
}

// ReadDevices reads a devices report in the order written. A torn last line is ignored as by
// ReadReport.
func ReadDevices(r io.Reader) ([]batch.DeviceResult, error) {
	return readDevices(r, "")
}

func readDevices(r io.Reader, name string) ([]batch.DeviceResult, error) {
	var ds []batch.DeviceResult
	err := readTable(r, name, devicesTable, func(cells []string, _ int) error {
		var d batch.DeviceResult
		p := cellParser{columns: DevicesHeader, cells: cells}
		p.field(0, parseLine(&d.Line))
		p.field(1, parseText(&d.TenantID))
		p.field(2, parseText(&d.User))
		p.field(3, parseText(&d.ID))
		p.field(4, parseText(&d.DeviceID))
		p.field(5, parseText(&d.DisplayName))
		p.field(6, parseBool(&d.PriorEnabled))
		p.field(7, oneOf(&d.Outcome, deviceOutcomes, "outcome"))
		p.field(8, parseNumber(&d.HTTP))
		p.field(9, parseText(&d.Code))
		p.field(10, parseText(&d.Message))
		p.field(11, parseText(&d.RequestID))
		p.field(12, parseTime(&d.At))
		if p.err != nil {
			return p.err
		}
		ds = append(ds, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}
