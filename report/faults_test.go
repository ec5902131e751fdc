package report

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

var errInjected = errors.New("injected fault")

// faults says where a faultFile fails: from the failWrite-th Write on (a full disk stays full;
// 0 never), on Sync, on Close.
type faults struct {
	failWrite           int
	failSync, failClose bool
}

// faultFile is a file that fails on demand and counts its syncs and closes.
type faultFile struct {
	faults
	mu                    sync.Mutex
	buf                   bytes.Buffer
	writes, syncs, closes int
}

func (f *faultFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	if f.failWrite > 0 && f.writes >= f.failWrite {
		// A short write, as a full disk gives.
		n := len(p) / 2
		f.buf.Write(p[:n])
		return n, fmt.Errorf("write: %w", errInjected)
	}
	return f.buf.Write(p)
}

func (f *faultFile) Sync() error  { return f.call(&f.syncs, f.failSync, "fsync") }
func (f *faultFile) Close() error { return f.call(&f.closes, f.failClose, "close") }

// call counts a Sync or Close in n, under the lock because a journal's writers may call them
// while the test reads the counts, and fails it as op when fail is set.
func (f *faultFile) call(n *int, fail bool, op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	*n++
	if fail {
		return fmt.Errorf("%s: %w", op, errInjected)
	}
	return nil
}

// journalOps drives one kind of journal over a faultFile: write adds a row (a long one when
// asked, to overflow the buffer), flush is nil for a journal that flushes on every write.
type journalOps struct {
	write func(i int, long bool) error
	flush func() error
	close func() error
}

var journalKinds = []struct {
	name string
	open func(f *faultFile, path string) journalOps
}{
	{"report", func(f *faultFile, path string) journalOps {
		j := newJournal(f, f, path)
		return journalOps{
			write: func(i int, long bool) error {
				return j.Write(batchResult(i, long))
			},
			flush: j.Flush, close: j.Close,
		}
	}},
	{"devices report", func(f *faultFile, path string) journalOps {
		j := newDeviceJournal(f, f, path)
		return journalOps{
			write: func(i int, long bool) error { return j.WriteDevices(deviceResult(i, long)) },
			flush: j.Flush, close: j.Close,
		}
	}},
	{"changes journal", func(f *faultFile, path string) journalOps {
		j := newChangeJournal(f, f, path, fixedNow)
		return journalOps{
			write: func(i int, long bool) error { return j.Record(changes(i, long)) },
			close: j.Close,
		}
	}},
	{"user list", func(f *faultFile, path string) journalOps {
		u := newUserList(f, f, path)
		return journalOps{
			write: func(i int, long bool) error {
				name := ""
				if long {
					name = strings.Repeat("x", 5000)
				}
				return u.Write(fmt.Sprintf("0a1b2c3d-0000-4000-8000-%012d", i), "", name, "")
			},
			flush: u.Flush, close: u.Close,
		}
	}},
}

// TestJournalFaults: every failure of the file reaches the caller: a failed write from the
// call that made it or the next flush, and from every call after it; a failed fsync or close
// from Close. The file is closed whatever failed.
func TestJournalFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     faults
		long      bool   // rows that overflow the write buffer, so the file sees a Write at once
		wantWrite bool   // the failing row's write call itself returns the error
		wantClose string // substring of Close's error
	}{
		{name: "nth write", fault: faults{failWrite: 3}, long: true, wantWrite: true, wantClose: "injected fault"},
		{name: "first write, from a flush", fault: faults{failWrite: 1}, wantClose: "injected fault"},
		{name: "fsync", fault: faults{failSync: true}, wantClose: "fsync: injected fault"},
		{name: "close", fault: faults{failClose: true}, wantClose: "close: injected fault"},
	}
	for _, kind := range journalKinds {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				f := &faultFile{faults: tt.fault}
				path := "/var/lib/out." + strings.ReplaceAll(kind.name, " ", "-") + ".csv"
				j := kind.open(f, path)
				var first error
				fromWrite := false
				for i := 1; i <= 6 && first == nil; i++ {
					first = j.write(i, tt.long)
					fromWrite = first != nil
					if first == nil && j.flush != nil {
						first = j.flush()
					}
				}
				if tt.wantWrite && !fromWrite {
					t.Errorf("the write that failed returned no error (first error: %v)", first)
				}
				writeFault := tt.fault.failWrite > 0
				switch {
				case writeFault && first == nil:
					t.Fatal("no write or flush reported the failed write")
				case !writeFault && first != nil:
					t.Fatalf("unexpected error: %v", first)
				}
				if writeFault {
					if !errors.Is(first, errInjected) || !strings.Contains(first.Error(), path) {
						t.Errorf("error %q does not wrap the fault or name %s", first, path)
					}
					// Once failed, always failed: no later call may pretend the rows are safe.
					if err := j.write(99, false); err == nil {
						t.Error("a write after the failure succeeded")
					}
					if j.flush != nil {
						if err := j.flush(); err == nil {
							t.Error("a flush after the failure succeeded")
						}
					}
				}
				err := j.close()
				if err == nil || !strings.Contains(err.Error(), tt.wantClose) {
					t.Errorf("Close = %v, want an error with %q", err, tt.wantClose)
				}
				if f.closes != 1 {
					t.Errorf("file closed %d times, want once", f.closes)
				}
				if err := j.close(); err == nil {
					t.Error("a second Close succeeded")
				}
				if err := j.write(100, false); err == nil {
					t.Error("a write after Close succeeded")
				}
			})
		}
	}
}

// TestJournalSyncs: Close fsyncs before it closes.
func TestJournalSyncs(t *testing.T) {
	for _, kind := range journalKinds {
		f := &faultFile{}
		j := kind.open(f, "x.csv")
		if err := j.write(1, false); err != nil {
			t.Fatal(err)
		}
		if err := j.close(); err != nil {
			t.Fatal(err)
		}
		if f.syncs != 1 || f.closes != 1 {
			t.Errorf("%s: %d syncs, %d closes; want 1, 1", kind.name, f.syncs, f.closes)
		}
	}
}

func fixedNow() time.Time { return t0 }

func batchResult(i int, long bool) batch.Result {
	r := batch.Result{Line: i, Input: fmt.Sprintf("user%d@contoso.com", i), Status: batch.StatusRevoked, At: t0}
	if long {
		r.Message = strings.Repeat("x", 5000)
	}
	return r
}

func deviceResult(i int, long bool) batch.DeviceResult {
	d := batch.DeviceResult{Line: i, User: fmt.Sprintf("user%d@contoso.com", i), ID: fmt.Sprintf("dev-%d", i),
		Outcome: batch.DeviceDisabled, PriorEnabled: ptr(true), At: t0}
	if long {
		d.Message = strings.Repeat("x", 5000)
	}
	return d
}

func changes(i int, long bool) []batch.Change {
	c := batch.Change{Line: i, ID: fmt.Sprintf("user%d@contoso.com", i), PriorEnabled: ptr(true)}
	if long {
		c.Name = strings.Repeat("x", 5000)
	}
	return []batch.Change{c}
}
