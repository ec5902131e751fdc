package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// exclusions are the users never to touch, by lower-case key (an object id or a UPN), and by
// tenant ("tenant/key") when the entry or the run names one. After resolve, every entry that
// Graph found stands under both of its user's keys, so a row names an excluded user exactly
// when it names that user's object, whichever way it spells it.
type exclusions map[string]bool

func (x exclusions) has(row batch.Row) bool {
	k := strings.ToLower(row.Key)
	return x[k] || (row.Tenant != "" && x[row.Tenant+"/"+k])
}

func (x exclusions) add(tenant, key string) {
	if key == "" {
		return
	}
	if tenant != "" {
		x[tenant+"/"+strings.ToLower(key)] = true
	} else {
		x[strings.ToLower(key)] = true
	}
}

// loadExcludes reads --exclude: its entries as rows, and the set of their spellings.
func loadExcludes(path, column string) (exclusions, []batch.Row, error) {
	if path == "" {
		return nil, nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the exclusion list: %w", err)
	}
	defer f.Close()
	r, err := batch.NewReader(bufio.NewReader(f), batch.ReaderOptions{Name: path, Column: column})
	if err != nil {
		return nil, nil, err
	}
	set := exclusions{}
	var entries []batch.Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return set, entries, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if row.Kind == batch.KindInvalid {
			// An exclusion that cannot be read must not silently let its user be revoked.
			return nil, nil, withHint(fmt.Errorf("%s:%d: %s", path, row.Line, row.Reason), "fix the exclusion list")
		}
		set.add(row.Tenant, row.Key)
		if row.DupOf == 0 {
			entries = append(entries, row)
		}
	}
}

// resolveExcludes looks every exclusion entry up in Graph, in the tenant it names or else in
// each tenant of the run, and adds the object id and userPrincipalName of each user found to
// the set. An entry that names nobody is returned as a note for stderr and the summary. An
// entry Graph could not answer for (throttled to the end, 5xx, 403) stops the run before
// anything is written: an unresolved break-glass entry must never be guessed.
func (r *runner) resolveExcludes(path string, set exclusions, entries []batch.Row, tenants []string) ([]string, error) {
	if len(entries) == 0 || r.conn == nil {
		return nil, nil
	}
	known := map[string]string{} // tenant id (lower case) -> the tenant as the run's lanes name it
	for _, t := range tenants {
		known[strings.ToLower(r.conn.tenantID(t))] = t
	}
	var rows []batch.Row
	type origin struct {
		entry  batch.Row
		tenant string
	}
	byLine := map[int]origin{}
	for _, e := range entries {
		targets := tenants
		if e.Tenant != "" {
			t, ok := known[strings.ToLower(r.conn.tenantID(e.Tenant))]
			if !ok {
				t, ok = known[strings.ToLower(e.Tenant)]
			}
			if !ok {
				continue // a tenant this run does not touch: nothing of it can be revoked
			}
			targets = []string{t}
		}
		for _, t := range targets {
			row := e
			row.Line, row.Tenant, row.DupOf = len(rows)+1, t, 0
			byLine[row.Line] = origin{e, t}
			rows = append(rows, row)
		}
	}
	cfg := r.o.engineConfig()
	cfg.Plan, cfg.Rate, cfg.Burst = batch.Plan{Lookup: true}, 0, 0
	cfg.Logger, cfg.Clock, cfg.Lanes, cfg.TenantErrors = r.logger, r.conn.clock, r.conn.lanes, r.conn.tenantErrs
	sink := &collect{}
	if _, err := batch.Run(r.ctx(), cfg, batch.Rows(rows), nil, sink); err != nil {
		return nil, withHint(fmt.Errorf("resolving the exclusion list %s: %w", path, err), "nothing was changed; run again once Graph answers")
	}
	var notes, unresolved []string
	for _, res := range sink.rs {
		o := byLine[res.Line]
		where := ""
		if o.tenant != "" {
			where = " in tenant " + r.conn.tenantID(o.tenant)
		}
		switch res.Status {
		case batch.StatusWouldRevoke, batch.StatusDuplicate: // found (twice, when the list names a user twice)
			set.add(o.tenant, res.UserID)
			set.add(o.tenant, res.UPN)
			set.add(o.tenant, o.entry.Key)
		case batch.StatusNotFound:
			notes = append(notes, fmt.Sprintf("%s:%d: %s matches no user%s", path, o.entry.Line, o.entry.Input, where))
		default:
			unresolved = append(unresolved, fmt.Sprintf("%s:%d: %s%s: %s %s", path, o.entry.Line, o.entry.Input, where, res.Status,
				strings.TrimSpace(res.Code+" "+res.Message)))
		}
	}
	if len(unresolved) > 0 {
		return nil, withHint(errors.New("cannot resolve the exclusion list, so nothing was sent:\n  "+strings.Join(unresolved, "\n  ")),
			"an exclusion Graph could not look up is never guessed: fix the cause (permission User.Read.All, throttling, an outage) and run again")
	}
	return notes, nil
}

// collect keeps every result of a small run in memory.
type collect struct {
	mu sync.Mutex
	rs []batch.Result
}

func (c *collect) Write(rs ...batch.Result) error {
	c.mu.Lock()
	c.rs = append(c.rs, rs...)
	c.mu.Unlock()
	return nil
}

func (c *collect) Flush() error { return nil }
