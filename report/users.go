package report

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// UserList writes the users a run resolved from Graph (a group's members, a filter, a whole
// tenant) as a list batch.NewReader reads: header id,userPrincipalName,displayName, and a
// tenant column when the users carry tenants. The reader picks the userPrincipalName column
// unless told to use id (ReaderOptions.Column), which survives a rename. It is safe for
// concurrent use.
type UserList struct {
	c       *csvFile
	started bool // the header is written, and with it whether rows carry a tenant
	tenant  bool
}

var usersHeader = []string{"id", "userPrincipalName", "displayName"}

// CreateUsers creates the user list at path: mode 0600, an existing file refused unless force.
// The header waits for the first user, which decides whether there is a tenant column.
func CreateUsers(path string, force bool) (*UserList, error) {
	f, err := createFile(path, force, "user list")
	if err != nil {
		return nil, err
	}
	syncDir(filepath.Dir(path))
	return &UserList{c: newCSVFile(f, f, path, "user list")}, nil
}

func newUserList(w io.Writer, f file, path string) *UserList {
	return &UserList{c: newCSVFile(w, f, path, "user list")}
}

// Path is the user list's file name.
func (u *UserList) Path() string { return u.c.path }

// Write buffers one user. tenant must be given for every user or for none: in a list with a
// tenant column the reader refuses a row without one. id must be an object id and upn a
// userPrincipalName as the reader accepts them, and they are written as they are: neutralising
// them like report cells could turn them into other, valid keys.
func (u *UserList) Write(id, upn, displayName, tenant string) error {
	if id == "" && upn == "" {
		return errors.New("write user list: a user needs an id or a userPrincipalName")
	}
	if k, _, why := batch.Classify(id); id != "" && k != batch.KindObjectID {
		return fmt.Errorf("write user list: id %q is not an object id (%s)", id, or(why, "a userPrincipalName"))
	}
	if k, _, why := batch.Classify(upn); upn != "" && k != batch.KindUPN {
		return fmt.Errorf("write user list: %q is not a userPrincipalName (%s)", upn, or(why, "an object id"))
	}
	if _, why := batch.ParseTenant(tenant); tenant != "" && why != "" {
		return fmt.Errorf("write user list: tenant %q %s", tenant, why)
	}
	u.c.mu.Lock()
	defer u.c.mu.Unlock()
	if u.c.closed {
		return u.c.writeLocked() // the closed error
	}
	if !u.started {
		u.started, u.tenant = true, tenant != ""
		if err := u.c.writeLocked(u.header()); err != nil {
			return err
		}
	}
	switch {
	case tenant != "" && !u.tenant:
		return fmt.Errorf("write user list: %s has tenant %q, but the first user had none: the list has no tenant column", who(id, upn), tenant)
	case tenant == "" && u.tenant:
		return fmt.Errorf("write user list: %s has no tenant, but the list has a tenant column", who(id, upn))
	}
	rec := []string{id, upn, text(displayName)}
	if u.tenant {
		rec = append(rec, tenant)
	}
	return u.c.writeLocked(rec)
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func who(id, upn string) string {
	if upn != "" {
		return fmt.Sprintf("user %q", upn)
	}
	return fmt.Sprintf("user %q", id)
}

func (u *UserList) header() []string {
	if u.tenant {
		return append(append([]string(nil), usersHeader...), "tenant")
	}
	return usersHeader
}

// Flush pushes buffered users to the OS.
func (u *UserList) Flush() error { return u.c.Flush() }

// Close writes the header of an empty list, flushes, fsyncs and closes the file.
func (u *UserList) Close() error {
	u.c.mu.Lock()
	if !u.started && !u.c.closed {
		u.started = true
		u.c.cw.Write(u.header())
	}
	u.c.mu.Unlock()
	return u.c.Close()
}
