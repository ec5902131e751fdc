package report

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// ChangesHeader is the changes journal's first line, one row per directory change about to be
// sent.
var ChangesHeader = []string{"line", "tenant_id", "object", "id", "name", "action", "prior_account_enabled", "recorded_at"}

var changesTable = &table{what: "changes journal", columns: ChangesHeader, required: len(ChangesHeader)}

// ChangeJournal is a run's intent log: every change is recorded before Graph is asked to make
// it, so that a rollback finds it even when the process died before the answer was written to
// the report. Its Record method is batch.Config.BeforeChange.
type ChangeJournal struct {
	c   *csvFile
	now func() time.Time
}

// CreateChanges creates the changes journal at path as Create does the report: mode 0600, an
// existing file refused unless force, the header on disk at once.
func CreateChanges(path string, force bool) (*ChangeJournal, error) {
	c, err := createWithHeader(path, force, "changes journal", ChangesHeader)
	if err != nil {
		return nil, err
	}
	return &ChangeJournal{c: c, now: time.Now}, nil
}

func newChangeJournal(w io.Writer, f file, path string, now func() time.Time) *ChangeJournal {
	j := &ChangeJournal{c: newCSVFile(w, f, path, "changes journal"), now: now}
	j.c.cw.Write(ChangesHeader)
	return j
}

// Path is the changes journal's file name.
func (j *ChangeJournal) Path() string { return j.c.path }

// Record writes one row per change and hands them to the OS before it returns: a process
// killed after Record loses none of them (a power cut may; Close fsyncs). An error means the
// changes must not be sent. It is safe for concurrent use.
func (j *ChangeJournal) Record(cs []batch.Change) error {
	at := timestamp(j.now())
	recs := make([][]string, len(cs))
	for i, c := range cs {
		if c.Line <= 0 {
			return fmt.Errorf("write changes journal: change of %q has line %d; lines start at 1", c.ID, c.Line)
		}
		recs[i] = changeRecord(c, at)
	}
	j.c.mu.Lock()
	defer j.c.mu.Unlock()
	if err := j.c.writeLocked(recs...); err != nil {
		return err
	}
	return j.c.flushLocked()
}

// Close flushes, fsyncs and closes the file; it reports every step that failed.
func (j *ChangeJournal) Close() error { return j.c.Close() }

func changeRecord(c batch.Change, at string) []string {
	object, action := "user", "disable"
	if c.Device {
		object = "device"
	}
	if c.Enable {
		action = "enable"
	}
	return []string{strconv.Itoa(c.Line), text(c.TenantID), object, text(c.ID), text(c.Name), action, boolean(c.PriorEnabled), at}
}

// ReadChanges reads a changes journal in the order written. A torn last line is ignored as by
// ReadReport.
func ReadChanges(r io.Reader) ([]batch.Change, error) {
	return readChanges(r, "")
}

func readChanges(r io.Reader, name string) ([]batch.Change, error) {
	var cs []batch.Change
	err := readTable(r, name, changesTable, func(cells []string, _ int) error {
		var c batch.Change
		var at time.Time
		p := cellParser{columns: ChangesHeader, cells: cells}
		p.field(0, parseLine(&c.Line))
		p.field(1, parseText(&c.TenantID))
		p.field(2, either(&c.Device, "user", "device"))
		p.field(3, parseText(&c.ID))
		p.field(4, parseText(&c.Name))
		p.field(5, either(&c.Enable, "disable", "enable"))
		p.field(6, parseBool(&c.PriorEnabled))
		p.field(7, parseTime(&at))
		if p.err != nil {
			return p.err
		}
		cs = append(cs, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// either reads a two-valued cell: no is false, yes true.
func either(b *bool, no, yes string) func(string) error {
	return func(s string) error {
		switch s {
		case no, yes:
			*b = s == yes
			return nil
		}
		return fmt.Errorf("%q is neither %s nor %s", s, no, yes)
	}
}
