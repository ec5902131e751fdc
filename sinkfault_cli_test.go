//go:build unix

package main

// The report's file fails mid-run (issue 13): the program runs as a child process whose file
// size limit (RLIMIT_FSIZE) is set low, so that writing the report past that many bytes fails
// with EFBIG, as a full disk fails. Whatever the run was doing (ending normally, interrupted,
// stopped by Graph refusing the token), either every input row is in the report, or the run
// exits 1, says at the end of its output that the report is incomplete, how many rows are
// missing and why, and prints the --resume command that finishes the job once the cause is gone.

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// fsizeEnv, in the environment of a child, is the largest file in bytes it may write.
const fsizeEnv = "BULKREVOKE_TEST_FSIZE"

// init sets the file size limit in a child started with fsizeEnv (this test binary run as
// bulkrevoke; elsewhere the variable is unset and nothing happens). SIGXFSZ, which would kill
// the process at the limit, is ignored, so the write fails with EFBIG instead. Go's runtime
// already handles SIGXFSZ without action; ignoring it says so and does not depend on that.
func init() {
	v := os.Getenv(fsizeEnv)
	if v == "" {
		return
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err == nil {
		signal.Ignore(syscall.SIGXFSZ)
		var lim syscall.Rlimit
		if err = syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err == nil {
			lim.Cur = n
			err = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%s: %v\n", fsizeEnv, v, err)
		os.Exit(125)
	}
}

// limitedUsers is the tenant size: 200 users make about 34 KB of report, 10 envelopes of 20.
const limitedUsers = 200

// limitedRun is one child run of a scenario with a limit, and what it left.
type limitedRun struct {
	t      *testing.T
	users  []graphsim.User
	dir    string
	first  string // the report
	rs     *simServer
	code   int
	stderr string
	rows   map[int]batch.Result
	n      int // complete rows in the report
}

var incompleteRE = regexp.MustCompile(`THE REPORT IS INCOMPLETE: (\d+) of (\d+) rows are missing from the report`)

// checkIncomplete asserts what a run that lost rows must print: exit 1, and at the end of
// stderr the summary's incomplete part with the right count and the cause, then the error and
// a hint, both with the resume command, which it returns.
func (r *limitedRun) checkIncomplete() string {
	t := r.t
	t.Helper()
	if r.code != exitFailure {
		t.Fatalf("%d of %d rows in the report, exit %d; want exit 1. stderr:\n%s", r.n, len(r.users), r.code, r.stderr)
	}
	i := strings.LastIndex(r.stderr, "THE REPORT IS INCOMPLETE")
	if i < 0 {
		t.Fatalf("%d of %d rows in the report, and the summary does not say it is incomplete. stderr:\n%s", r.n, len(r.users), r.stderr)
	}
	tail := r.stderr[i:]
	m := incompleteRE.FindStringSubmatch(tail)
	if m == nil || m[1] != strconv.Itoa(len(r.users)-r.n) || m[2] != strconv.Itoa(len(r.users)) {
		t.Errorf("the summary's count %q; want %d of %d rows missing", m, len(r.users)-r.n, len(r.users))
	}
	if !strings.Contains(tail, "file too large") {
		t.Errorf("the end of stderr does not give the cause (EFBIG, file too large):\n%s", tail)
	}
	command := lineAfter(t, tail, "To finish, run:\n  ")
	if !strings.HasPrefix(command, "bulkrevoke revoke ") || !strings.Contains(command, " --resume "+shellQuote(r.first)+" ") {
		t.Fatalf("resume command %q, want bulkrevoke revoke ... --resume %s", command, r.first)
	}
	lines := strings.Split(strings.TrimRight(tail, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "hint: ") || !strings.HasSuffix(last, command) {
		t.Errorf("the last line %q is not a hint ending in the resume command %q", last, command)
	}
	if !strings.Contains(tail, "\nbulkrevoke: the report "+r.first+" is incomplete") {
		t.Errorf("no error line naming the report as incomplete at the end of stderr:\n%s", tail)
	}
	return command
}

// resume runs command as printed, without the file size limit, and checks that it finishes
// the job: every row in the new report, revoked, and each user revoked once more than before
// unless the first report already said revoked. A user whose revoke landed in the first run
// without a row reaching its report is sent again (revoking is idempotent): that is the
// only way to a second revocation, and it is counted.
func (r *limitedRun) resume(command string) {
	t := r.t
	t.Helper()
	before := map[string]int{}
	reported := map[string]bool{}
	for _, u := range r.users {
		before[u.UPN] = len(r.rs.sim.Revocations(u.UPN))
	}
	for _, row := range r.rows {
		if row.Status == batch.StatusRevoked {
			reported[row.UPN] = true
			if before[row.UPN] != 1 {
				t.Errorf("line %d says revoked; graphsim revoked %s %d times", row.Line, row.UPN, before[row.UPN])
			}
		}
	}
	if code, out := shell(t, r.dir, command); code != 0 {
		t.Fatalf("%s: exit %d\n%s", command, code, out)
	}
	r.rs.drain()
	resumed := strings.TrimSuffix(r.first, ".csv") + "-resumed.csv"
	rows, n := readTornReport(t, resumed)
	if n != len(r.users) || len(rows) != len(r.users) {
		t.Fatalf("resumed report has %d rows (%d distinct) for %d users", n, len(rows), len(r.users))
	}
	for _, row := range rows {
		if row.Status != batch.StatusRevoked {
			t.Errorf("resumed report: line %d %s %s, want revoked", row.Line, row.Status, row.Message)
		}
	}
	resent := 0
	for _, u := range r.users {
		got := len(r.rs.sim.Revocations(u.UPN))
		switch {
		case reported[u.UPN] && got != before[u.UPN]:
			t.Errorf("%s: revoked in the first report, sent again on resume (%d -> %d)", u.UPN, before[u.UPN], got)
		case !reported[u.UPN] && got != before[u.UPN]+1:
			t.Errorf("%s: not revoked in the first report, revoked %d times before the resume and %d after; want one more", u.UPN, before[u.UPN], got)
		case !reported[u.UPN] && before[u.UPN] > 0:
			resent++
		}
	}
	t.Logf("resume: %d rows revoked in the first report, %d users re-sent because their revoke landed without its row", len(reported), resent)
}

// startLimited runs the first, limited, run of a scenario: hook sees each $batch request; env is
// added to the child's environment.
func startLimited(t *testing.T, lim fileLimit, hook func(rs *simServer, child *childProc, n int64, w http.ResponseWriter, r *http.Request) bool, env ...string) *limitedRun {
	t.Helper()
	users, input := memberList(t, limitedUsers)
	r := &limitedRun{t: t, users: users, dir: filepath.Dir(input)}
	r.first = filepath.Join(r.dir, "first.csv")
	child := new(childProc)
	var h func(*simServer, int64, http.ResponseWriter, *http.Request) bool
	if hook != nil {
		h = func(rs *simServer, n int64, w http.ResponseWriter, req *http.Request) bool {
			return hook(rs, child, n, w, req)
		}
	}
	r.rs = serveSim(t, tokenSim(graphsim.Config{Seed: 13}, users), simOpts{hook: h})
	if lim.bytes > 0 {
		env = append(env, fsizeEnv+"="+strconv.FormatInt(lim.bytes, 10))
	}
	child.start(t, r.dir, env, cliArgs("revoke", r.rs.url, input, r.first, append([]string{"--concurrency", "1"}, lim.args...)...)...)
	r.code = child.wait(t)
	r.rs.drain()
	r.stderr = child.stderr.String()
	r.rows, r.n = readTornReport(t, r.first)
	noSecrets(t, "the limited run's output", child.stdout.String(), r.stderr)
	t.Logf("limit %d: exit %d, %d of %d rows in the report", lim.bytes, r.code, r.n, len(users))
	if lim.trips && r.n == len(users) {
		t.Fatalf("the report outgrew no limit of %d bytes: the case tests nothing", lim.bytes)
	}
	if r.n < lim.minRows {
		t.Fatalf("%d rows in the report, want at least %d before the limit bites: the case does not test what it says", r.n, lim.minRows)
	}
	return r
}

// fileLimit is a file size limit a scenario runs with: each scenario has one the report outgrows
// early, one it outgrows late, and one it never reaches (the scenario's own outcome, with the
// limit in place). The report's header is 284 bytes, a revoked row about 170, a row not attempted
// about 155.
type fileLimit struct {
	name    string
	bytes   int64
	trips   bool     // the report must outgrow it
	minRows int      // rows that must fit before it bites
	args    []string // more flags for the run (and the resume command)
}

// TestSinkFaultCLINormal: a run that would end normally, its report's file failing.
func TestSinkFaultCLINormal(t *testing.T) {
	for _, lim := range []fileLimit{
		{name: "1 KB", bytes: 1000, trips: true},
		{name: "16 KB", bytes: 16000, trips: true, minRows: 60},
		{name: "1 MB", bytes: 1 << 20},
		// Every row is written when its revoke lands, before the read-back: the limit bites on
		// them as without --verify (TestVerifyRewriteFails has the read-back's own write failing).
		{name: "verify, 16 KB", bytes: 16000, trips: true, minRows: 60, args: []string{"--verify"}},
	} {
		t.Run(lim.name, func(t *testing.T) {
			t.Parallel()
			r := startLimited(t, lim, nil)
			if slices.Contains(lim.args, "--verify") {
				// The rows on disk were written as their revokes landed; the run stopped before
				// any read-back.
				for _, row := range r.rows {
					if row.Status == batch.StatusRevoked && row.Verified != nil {
						t.Fatalf("line %d is verified=%v: the read-back ran although the report could not be written", row.Line, *row.Verified)
					}
				}
			}
			if r.n == len(r.users) {
				if r.code != exitOK {
					t.Fatalf("every row in the report, exit %d; want 0. stderr:\n%s", r.code, r.stderr)
				}
				for _, u := range r.users {
					if k := len(r.rs.sim.Revocations(u.UPN)); k != 1 {
						t.Errorf("%s revoked %d times, want once", u.UPN, k)
					}
				}
				return
			}
			r.resume(r.checkIncomplete())
		})
	}
}

// TestSinkFaultCLIInterrupted: SIGINT while the first envelope is in flight (Graph answers it
// once the child says the signal cancelled its run, see TestRelInterrupt); the report's file
// then fails while the run winds down. The rows not attempted are written as soon as the run is
// cancelled, the envelope's revoked rows after its answer: a limit of 1 or 8 KB bites on the
// former and loses the latter with them; with --verify it bites on the revoked rows alone.
func TestSinkFaultCLIInterrupted(t *testing.T) {
	for _, lim := range []fileLimit{
		{name: "1 KB", bytes: 1000, trips: true},
		{name: "8 KB", bytes: 8000, trips: true},
		{name: "1 MB", bytes: 1 << 20},
		// The 180 rows not attempted fit (about 30 KB); the limit bites on the envelope's 20
		// revoked rows (about 5 KB more), written when its answer arrives (an interrupted run
		// skips the read-back). Rows grow with every column added: keep a margin both ways.
		{name: "verify, 32.5 KB", bytes: 32500, trips: true, minRows: 180, args: []string{"--verify"}},
	} {
		t.Run(lim.name, func(t *testing.T) {
			t.Parallel()
			in := interruptAt(t, 1)
			r := startLimited(t, lim, func(rs *simServer, child *childProc, n int64, w http.ResponseWriter, req *http.Request) bool {
				return in.hook(child)(rs, n, w, req)
			}, in.env)
			if signalled, unacked := in.signalled.Load(), in.unacked.Load(); !signalled || unacked {
				t.Fatalf("signalled %v, acknowledged %v: the interrupt did not land mid-run; stderr:\n%s", signalled, !unacked, r.stderr)
			}
			if gs := r.rs.sim.Stats(); gs.Envelopes != 1 {
				t.Fatalf("graphsim got %d envelopes, want only the one in flight at the interrupt", gs.Envelopes)
			}
			var command string
			if r.n == len(r.users) {
				if r.code != exitInterrupted {
					t.Fatalf("every row in the report, exit %d; want %d. stderr:\n%s", r.code, exitInterrupted, r.stderr)
				}
				command = lineAfter(t, r.stderr, "To finish, run:\n  ")
			} else {
				command = r.checkIncomplete()
			}
			r.resume(command)
		})
	}
}

// TestSinkFaultCLIFatal: Graph stops accepting the token at the third envelope; after three
// refusals the run stops with ErrUnauthorized, and the report's file fails on the rows written
// after that (the first two envelopes' 40 rows take about 7 KB). The resume runs once the token
// is good again and the limit gone.
func TestSinkFaultCLIFatal(t *testing.T) {
	for _, lim := range []fileLimit{
		// The first two envelopes' 40 revoked rows fit; the rows written after the refusals do not.
		{name: "12 KB", bytes: 12000, trips: true, minRows: 40},
		{name: "1 MB", bytes: 1 << 20},
	} {
		t.Run(lim.name, func(t *testing.T) {
			t.Parallel()
			r := startLimited(t, lim, func(rs *simServer, _ *childProc, n int64, _ http.ResponseWriter, _ *http.Request) bool {
				if n == 3 {
					rs.sim.SetToken("the-token-has-expired")
				}
				return false
			})
			if gs := r.rs.sim.Stats(); gs.Unauthorized < 3 || gs.Revocations != 40 {
				t.Fatalf("graphsim sent %d 401s and revoked %d users; want at least 3 and 40 (the first two envelopes)", gs.Unauthorized, gs.Revocations)
			}
			// Whatever else failed, the admin must be told that Graph refused the token: the
			// resume command fails the same way until the token is fixed too.
			named := strings.Contains(r.stderr, batch.ErrUnauthorized.Error())
			var command string
			if r.n == len(r.users) {
				if !named {
					t.Errorf("stderr never says %q:\n%s", batch.ErrUnauthorized, r.stderr)
				}
				if r.code != exitFailure {
					t.Fatalf("every row in the report, exit %d; want 1. stderr:\n%s", r.code, r.stderr)
				}
				command = lineAfter(t, r.stderr, "then finish with: ")
			} else {
				command = r.checkIncomplete()
			}
			r.rs.sim.SetToken(simToken) // the cause, removed
			r.resume(command)
			if !named {
				// A report that is incomplete must not hide the refused token that stopped the run:
				// the resume command would fail the same way.
				t.Errorf("the report is incomplete and stderr never says %q", batch.ErrUnauthorized)
			}
		})
	}
}

// verifiedLimit is a file size limit the report of limitedUsers revoked rows fits under (about 34 KB),
// and its verified version (about 40 KB: a timestamp and true more per row) does not.
const verifiedLimit = 37000

// TestVerifyRewriteFails: the verified version of the report cannot be written (the child's
// file size limit, as a full disk). The report stays as it was written when the revokes
// landed, whole; the run exits 1, says the report lacks the verification and why, and prints
// the --resume command, which reads the users back and finishes the job.
func TestVerifyRewriteFails(t *testing.T) {
	t.Parallel()
	r := startLimited(t, fileLimit{name: "verify, 37 KB", bytes: verifiedLimit, args: []string{"--verify"}}, nil)
	if r.n != len(r.users) {
		t.Fatalf("%d of %d rows in the report: the limit bit on the report itself, not on its verified version", r.n, len(r.users))
	}
	for _, row := range r.rows {
		if row.Status != batch.StatusRevoked || row.Verified != nil {
			t.Errorf("line %d: %s verified=%v; want revoked, not verified", row.Line, row.Status, row.Verified)
		}
	}
	if tmps, _ := filepath.Glob(r.first + ".*.tmp"); len(tmps) != 0 {
		t.Errorf("the failed rewrite left %q", tmps)
	}
	if !strings.Contains(r.stderr, "recording the verification in the report") {
		t.Errorf("stderr does not say the verification could not be recorded:\n%s", r.stderr)
	}
	if r.rs.sim.Stats().Reads == 0 || strings.Contains(r.stderr, "Not confirmed by read-back") {
		// The summary counts no read-back the report does not hold.
		t.Errorf("%d users read back; the summary speaks of a verification the report lacks:\n%s", r.rs.sim.Stats().Reads, r.stderr)
	}
	r.resume(r.checkIncomplete())
	resumed := strings.TrimSuffix(r.first, ".csv") + "-resumed.csv"
	rows, _ := readTornReport(t, resumed)
	for _, row := range rows {
		if row.Verified == nil || !*row.Verified {
			t.Errorf("resumed report, line %d: verified=%v", row.Line, row.Verified)
		}
	}
	if st, err := os.Stat(resumed); err != nil || st.Size() <= verifiedLimit {
		t.Errorf("the verified report is %v bytes (%v); the case needs one larger than the limit of %d", st.Size(), err, verifiedLimit)
	}
}
