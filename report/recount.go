package report

import "github.com/bulkrevoke/bulkrevoke/batch"

// Recount gathers what a later pass changes in rows that Summary.Add counted already, for
// Summary.AddRecount once the changed rows are in the report: a pass whose rows could not be
// recorded changes nothing in the summary either.
type Recount struct{ unverified, guests int }

// Add notes one row: was is the row as Summary.Add saw it, now the same row (same line and
// status) after the pass. A verification fills verified, sessions_valid_from, the user's id or
// UPN and the note; of what Add counts, only the users not confirmed by read-back and the
// guests depend on those cells.
func (c *Recount) Add(was, now batch.Result) {
	c.unverified += one(isFalse(now.Verified)) - one(isFalse(was.Verified))
	c.guests += one(now.Status.OK() && isGuest(now)) - one(was.Status.OK() && isGuest(was))
}

// AddRecount counts what rc gathered.
func (s *Summary) AddRecount(rc Recount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unverified += rc.unverified
	s.guests += rc.guests
}

func one(b bool) int {
	if b {
		return 1
	}
	return 0
}
