package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// input is the user list, seekable so it can be read twice.
type input struct {
	*os.File
	name string
	temp bool
}

func (in *input) Close() error {
	err := in.File.Close()
	if in.temp {
		os.Remove(in.File.Name())
	}
	return err
}

// openInput opens --input. Standard input is copied to a private temporary file first: the
// list is read once to check and count it and once to process it.
func openInput(name string, stdin io.Reader) (*input, error) {
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, withHint(fmt.Errorf("cannot open the user list: %w", err), "check the --input path")
		}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			return nil, fmt.Errorf("%s is a directory, not a user list", name)
		}
		return &input{File: f, name: name}, nil
	}
	f, err := os.CreateTemp("", "bulkrevoke-stdin-*.csv")
	if err != nil {
		return nil, err
	}
	in := &input{File: f, name: "stdin", temp: true}
	if _, err := io.Copy(f, stdin); err != nil {
		in.Close()
		return nil, fmt.Errorf("reading standard input: %w", err)
	}
	// The copy left the offset at the end: the first pass must read from the start.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

// survey is what the first pass over the input found.
type survey struct {
	rows    int      // data rows
	toSend  int      // rows that will reach Graph
	invalid int      // invalid or duplicate rows
	first   []string // the first few users, for the confirmation prompt
	tenants []string // the tenants the list names, in order of first appearance; "" for rows naming none
}

// surveyInput reads the whole list before anything is sent, so that a syntax error on the last
// line, a resume report of another file or a too-long list stop the run while nothing has
// happened yet.
func surveyInput(in *input, opts batch.ReaderOptions, excluded exclusions, prev *report.Previous, needDevices bool) (survey, error) {
	var p survey
	r, err := batch.NewReader(in, opts)
	if err != nil {
		return p, err
	}
	alt := sameUserReader(in, opts, r.Column(), excluded)
	if alt != nil {
		defer alt.Close()
	}
	matched := 0 // rows of the previous report that this input has too
	seenTenant := map[string]bool{}
	for {
		row, err := r.Next()
		if err == nil && alt != nil {
			alt.alias(row, excluded)
		}
		if err == io.EOF {
			if prev != nil && matched < prev.Len() {
				// Check saw no contradiction on the lines both have, but the report has rows
				// this input lacks: it belongs to another (longer) file.
				return p, withHint(fmt.Errorf("%s: %d of its rows are for lines that %s does not have: the report is from a different input file",
					prev.Path(), prev.Len()-matched, in.name), "use the report produced from this input file")
			}
			return p, nil
		}
		if err != nil {
			return p, err
		}
		p.rows++
		if prev != nil {
			if err := prev.Check(row); err != nil {
				return p, err
			}
			if _, ok := prev.Result(row.Line); ok {
				matched++
			}
		}
		switch {
		case row.Kind == batch.KindInvalid || row.DupOf > 0:
			p.invalid++
		case excluded.has(row), wasExcluded(prev, row.Line):
		default:
			if !seenTenant[row.Tenant] {
				seenTenant[row.Tenant] = true
				p.tenants = append(p.tenants, row.Tenant)
			}
			if prev != nil && prev.Done(row.Line, needDevices) {
				continue
			}
			p.toSend++
			if len(p.first) < 5 {
				p.first = append(p.first, row.Input)
			}
		}
	}
}

// sameUserColumns pairs the columns that name the same user two ways, by normalized header
// name: a resolved list's id and userPrincipalName, an export's object id and UPN, Defender's
// AccountObjectId and AccountUpn, a sign-in log's User ID and Username.
var sameUserColumns = map[string][]string{
	"userprincipalname":                {"id", "objectid"},
	"id":                               {"userprincipalname"},
	"objectid":                         {"userprincipalname"},
	"accountupn":                       {"accountobjectid"},
	"accountobjectid":                  {"accountupn"},
	"userid":                           {"username"},
	"username":                         {"userid"},
	"initiatingprocessaccountupn":      {"initiatingprocessaccountobjectid"},
	"initiatingprocessaccountobjectid": {"initiatingprocessaccountupn"},
}

// altReader reads the same list as the run, by the other column that names the same user.
type altReader struct {
	f *os.File
	r *batch.Reader
}

func (a *altReader) Close() error { return a.f.Close() }

// sameUserReader opens the list a second time on the column that names its users the other way
// (object id for UPN, UPN for object id), when there is an exclusion list and the list has such
// a column: an exclusion list may name by object id a break-glass account that the list names
// by UPN. This matters most for users from Graph, whose resolved list the tool writes itself
// (id and userPrincipalName, read by UPN): an admin cannot know to exclude by UPN.
func sameUserReader(in *input, opts batch.ReaderOptions, column string, excluded exclusions) *altReader {
	if len(excluded) == 0 || column == "" {
		return nil
	}
	for _, other := range sameUserColumns[batch.NormalizeHeader(column)] {
		f, err := os.Open(in.File.Name())
		if err != nil {
			return nil
		}
		o := opts
		o.Column = other
		r, err := batch.NewReader(bufio.NewReader(f), o)
		if err != nil {
			f.Close()
			continue // no such column
		}
		return &altReader{f: f, r: r}
	}
	return nil
}

// alias reads the alternative form of row (the two readers go line by line together) and, when
// the exclusion list names the user in that form, adds the row's own form to the list, so that
// both the survey and the run skip the user.
func (a *altReader) alias(row batch.Row, excluded exclusions) {
	if a.r == nil {
		return
	}
	other, err := a.r.Next()
	if err != nil || other.Line != row.Line {
		a.r = nil // out of step: no more aliases (the list is not what it seemed)
		return
	}
	if row.Kind == batch.KindInvalid || other.Kind == batch.KindInvalid || row.Tenant != other.Tenant {
		return
	}
	k, o := strings.ToLower(row.Key), strings.ToLower(other.Key)
	switch {
	case excluded[o]:
		excluded[k] = true
	case row.Tenant != "" && excluded[row.Tenant+"/"+o]:
		excluded[row.Tenant+"/"+k] = true
	}
}

// wasExcluded reports whether the run being resumed reported the row excluded.
func wasExcluded(prev *report.Previous, line int) bool {
	if prev == nil {
		return false
	}
	r, ok := prev.Result(line)
	return ok && r.Status == batch.StatusExcluded
}

// skipper answers the rows that need no Graph call: excluded users, users the resumed run
// already finished and, offline, every valid user. It also hands the resumed run's knowledge
// on: the prior state of users it blocked but did not finish.
func skipper(excluded exclusions, prev *report.Previous, offline, needDevices bool, now func() time.Time) func(batch.Row) (batch.Result, bool) {
	return func(row batch.Row) (batch.Result, bool) {
		r := batch.Result{Line: row.Line, Input: row.Input, At: now(), TenantID: row.Tenant}
		if row.Kind == batch.KindObjectID {
			r.UserID = row.Key
		} else {
			r.UPN = row.Key
		}
		if excluded.has(row) {
			r.Status, r.Note = batch.StatusExcluded, "on the --exclude list"
			return r, true
		}
		if wasExcluded(prev, row.Line) {
			// The resumed run's exclusion list still holds: a resume whose command does not
			// repeat --exclude (the one the README gives for users from Graph) must not revoke
			// the break-glass accounts the first run left alone.
			r.Status, r.Note = batch.StatusExcluded, "excluded by the run reported in "+prev.Path()+", not sent"
			return r, true
		}
		if prev != nil && prev.Done(row.Line, needDevices) {
			old, _ := prev.Result(row.Line)
			old.Note = strings.TrimPrefix(old.Note+"; revoked by the run reported in "+prev.Path()+", not sent again", "; ")
			return old, true
		}
		if offline {
			r.Status, r.Note = batch.StatusWouldRevoke, "offline check: not looked up in Graph"
			return r, true
		}
		return r, false
	}
}

// graphQuery is the Graph listing behind --group, --filter or --all-users.
type graphQuery struct {
	describe string // for the prompt and the log: "the transitive members of group Finance"
	req      batch.ListRequest
	group    string // the group's object id, to count its members that are not users
}

// userSelect is what a listing asks of each user: enough to write the resolved list.
const userSelect = "$select=id,userPrincipalName,displayName&$top=999"

// advancedFilter spots the filters Graph only runs as advanced queries (ConsistencyLevel:
// eventual with $count=true); without them it answers 400 Request_UnsupportedQuery.
func advancedFilter(f string) bool {
	l := " " + strings.ToLower(f) + " "
	for _, op := range []string{" ne ", "not(", " not ", "endswith(", "$count", " has ", "/$count"} {
		if strings.Contains(l, op) {
			return true
		}
	}
	return false
}

// resolveQuery turns the flags into a listing; a group given by name is looked up first.
func resolveQuery(ctx context.Context, o *options, client batch.Client, cfg batch.Config) (graphQuery, error) {
	switch {
	case o.allUsers:
		return graphQuery{describe: "every user of the tenant", req: batch.ListRequest{URL: "/users?" + userSelect}}, nil
	case o.filter != "":
		q := graphQuery{describe: "the users matching " + o.filter,
			req: batch.ListRequest{URL: "/users?$filter=" + queryEscape(o.filter) + "&" + userSelect}}
		if advancedFilter(o.filter) {
			q.req.URL += "&$count=true"
			q.req.Headers = map[string]string{"ConsistencyLevel": "eventual"}
		}
		return q, nil
	}
	id := o.group
	if kind, key, _ := batch.Classify(id); kind == batch.KindObjectID {
		id = key
	} else {
		var found []string
		name := strings.ReplaceAll(o.group, "'", "''")
		_, err := batch.List(ctx, cfg, client, batch.ListRequest{URL: "/groups?$filter=displayName%20eq%20'" + queryEscape(name) + "'&$select=id,displayName"},
			func(objs []map[string]any) error {
				for _, g := range objs {
					if s, ok := g["id"].(string); ok {
						found = append(found, s)
					}
				}
				return nil
			})
		if err != nil {
			return graphQuery{}, fmt.Errorf("looking up group %q: %w", o.group, err)
		}
		switch len(found) {
		case 0:
			return graphQuery{}, withHint(fmt.Errorf("no group is named %q", o.group), "give the group's object id, or its exact display name")
		case 1:
			id = found[0]
		default:
			return graphQuery{}, withHint(fmt.Errorf("%d groups are named %q: %s", len(found), o.group, strings.Join(found, ", ")),
				"give the object id of the one you mean")
		}
	}
	return graphQuery{describe: "the transitive members of group " + o.group, group: id,
		req: batch.ListRequest{URL: "/groups/" + id + "/transitiveMembers/microsoft.graph.user?" + userSelect}}, nil
}

// queryEscape encodes a query value as Graph's own clients do: spaces as %20, quotes kept.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// resolved is a Graph listing written down as a user list.
type resolved struct {
	path    string
	users   int
	skipped map[string]int // members that are not users, by kind: nested groups, devices, ...
}

// resolveUsers writes the users a Graph query selects to path, in the format --input reads, so
// that the run is auditable and --resume works on it as on any file. Nothing is written to
// Graph. Progress shows pages as they arrive.
func resolveUsers(ctx context.Context, q graphQuery, client batch.Client, cfg batch.Config, path, tenant string, force bool, prog *progress) (resolved, error) {
	out := resolved{path: path, skipped: map[string]int{}}
	list, err := report.CreateUsers(path, force)
	if err != nil {
		return out, withHint(err, "choose another --report path (the resolved list is written next to it), or add --force")
	}
	ok := false
	defer func() {
		if !ok {
			list.Close()
			os.Remove(path)
		}
	}()
	_, err = batch.List(ctx, cfg, client, q.req, func(objs []map[string]any) error {
		for _, u := range objs {
			id, _ := u["id"].(string)
			upn, _ := u["userPrincipalName"].(string)
			name, _ := u["displayName"].(string)
			if id == "" {
				continue
			}
			if err := list.Write(id, upn, name, tenant); err != nil {
				return err
			}
			out.users++
		}
		prog.listed(out.users)
		return nil
	})
	if err != nil {
		var le *batch.ListError
		if errors.As(err, &le) {
			// Graph's own message, unchanged: it names what is wrong with the query.
			return out, fmt.Errorf("graph refused %s: %s (HTTP %d %s)", q.describe, le.Message, le.Status, le.Code)
		}
		return out, err
	}
	if q.group != "" {
		// Members that are not users are counted, not revoked.
		_, cerr := batch.List(ctx, cfg, client, batch.ListRequest{URL: "/groups/" + q.group + "/transitiveMembers?$select=id&$top=999"},
			func(objs []map[string]any) error {
				for _, m := range objs {
					kind, _ := m["@odata.type"].(string)
					kind = strings.TrimPrefix(kind, "#microsoft.graph.")
					if kind != "user" && kind != "" {
						out.skipped[kind]++
					}
				}
				return nil
			})
		if cerr != nil {
			out.skipped["(not counted: "+cerr.Error()+")"] = 0
		}
	}
	if err := list.Close(); err != nil {
		return out, err
	}
	ok = true
	return out, nil
}

// skippedText describes the members a group listing left out.
func (r resolved) skippedText() string {
	var parts []string
	for kind, n := range r.skipped {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, kind))
		} else {
			parts = append(parts, kind)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	x, _ := filepath.Abs(a)
	y, _ := filepath.Abs(b)
	return x == y
}
