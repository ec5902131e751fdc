package batch

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stage is the step an item waits for. Later stages are sent first: a user half-way through
// (blocked, not yet revoked) is the most urgent.
type stage int

const (
	stLookup stage = iota
	stVerify
	stOwned      // list owned devices
	stRegistered // list registered devices
	stDevice     // a device's PATCH (a child item)
	stBlock
	stReset // after the block (the attacker cannot sign in while it lands), before the revoke
	// The methods go after the reset and before the revoke: a method the attacker registered
	// must be gone before the sessions end, or they sign in again with it at once.
	stMethods // list authentication methods
	stMethod  // remove one, then the next: Graph refuses some removals in the wrong order
	stEnable
	stRevoke
	stageCount
)

func (s stage) class() class {
	switch s {
	case stLookup, stVerify, stOwned, stRegistered, stMethods:
		return classRead
	}
	return classWrite
}

// item is a user (or a device of one) on its way through the plan.
type item struct {
	row   Row
	t     *tenant
	res   Result // what is known so far; the row's report once final
	stage stage
	done  bool // no step left (children may still run)
	next  string

	failures  int // failed attempts of the current step; throttling does not count
	last      Result
	found     int      // devices found for this user
	counted   []string // their ids, lower case: a device both owned and registered counts once
	disabled  int      // devices disabled (or re-enabled) for this user
	listed    int      // device listings finished (owned, registered)
	listError string
	listFails int  // device listings Graph would not give (a failure class of the summary)
	synced    bool // the lookup said onPremisesSyncEnabled: the cloud cannot block it
	children  int  // device items still on their way; guarded by engine.mu
	settled   bool // the user's own steps are done; guarded by engine.mu
	parent    *item
	dev       *DeviceResult
	dups      []Result // duplicate rows waiting for this row's outcome
	slot      bool     // holds one of its tenant's MaxPending slots
	released  bool     // release has run: a second is a bug that would lose a row

	// --remove-methods-since.
	mListing    []map[string]any // methods listed so far; decided once the listing is whole
	mQueue      []*removal       // removals waiting, the next first
	mListed     bool             // the listing reached its end
	mListFailed bool             // Graph would not give the whole listing (mError says why)
	mError      string
	mListHTTP   int // Graph's status for the listing that failed
	mRemoved    int // removed (by this run and the run being resumed)
	mLeft       int // to remove and not removed: failed, not attempted
	mWould      int // dry run: would be removed
	mUnknown    int // kept for want of a createdDateTime
	mDone       bool
	// --confirm-compromised (risk.go). riskID is set by the worker that asks; the rest is
	// guarded by engine.mu. The confirmation counts among children while it is out.
	riskAsked bool
	riskID    string
	riskOK    *bool
	riskHTTP  int
	riskErr   string
	riskNote  string

	// The duplicate rule, guarded by engine.mu: an object claimed by this line may still be
	// claimed by an earlier line naming the same user, until this line commits (a step after
	// its lookup leaves, or its row is written).
	committed bool
	dupOf     int   // the earlier line that took the object over: this row is its duplicate
	sameAs    []int // earlier lines found to name the same user after this one was sent

	// Evidence for the 403 and 5xx rules (see lane.go).
	refusedBy *lane  // the lane that answered this user's step 403, while another lane may try it
	probing   *lane  // that lane, while another lane's answer for this user is awaited
	sentSeq   uint64 // engine send sequence of the current attempt's envelope
	prevSeq   uint64 // and of the attempt before it
	sentSome  bool   // an envelope carrying this user's current step left without an answer
}

func (e *engine) newItem(row Row, t *tenant) *item {
	it := &item{row: row, t: t, slot: true, mRemoved: row.MethodsRemoved}
	it.res = Result{Line: row.Line, Input: row.Input, TenantID: e.tenantID(row.Tenant)}
	fillKey(&it.res, row)
	p := e.cfg.Plan
	switch {
	case p.Enable:
		it.stage = stEnable
		if row.Restore == nil || !row.Restore.User {
			it.stage = stDevice // devices only; advance spawns them
			it.done = true
		}
	case p.Lookup || (p.Block && !p.Verify):
		it.stage = stLookup
	case p.Verify:
		it.stage = stVerify
	case p.Revoke && !p.DryRun:
		it.stage = stRevoke
	case p.Devices:
		it.stage = stOwned
	default:
		it.stage = stRevoke
	}
	return it
}

// advance sends an item to its current stage's queue, or finishes it.
func (e *engine) advance(it *item) {
	if it.parent == nil && it.stage == stDevice && it.done {
		// A rollback row with devices only (or nothing) to restore.
		e.spawnRestores(it)
		e.settleUser(it)
		return
	}
	if it.done {
		e.settleUser(it)
		return
	}
	it.failures, it.last = 0, Result{}
	e.enqueue(it)
}

// nextStage moves a user to the step after the one just settled; it reports whether one is left.
func (e *engine) nextStage(it *item) bool {
	p := e.cfg.Plan
	after := func(s stage) stage {
		switch s {
		case stLookup:
			if p.Block && !p.DryRun && e.needsBlock(it) {
				return stBlock
			}
			if p.Reset && !p.DryRun && e.needsReset(it) {
				return stReset
			}
			if p.Methods {
				return stMethods
			}
			if p.Revoke && !p.DryRun {
				return stRevoke
			}
			if p.Devices {
				return stOwned
			}
		case stBlock:
			if p.Reset && e.needsReset(it) {
				return stReset
			}
			fallthrough
		case stReset:
			if p.Methods {
				return stMethods
			}
			fallthrough
		case stMethods, stMethod:
			// The revoke follows whatever became of the methods.
			if p.Revoke && !p.DryRun {
				return stRevoke
			}
			if p.Devices {
				return stOwned
			}
		case stRevoke:
			if p.Devices && it.res.Status != StatusNotFound {
				return stOwned
			}
		case stOwned:
			return stRegistered
		}
		return stageCount
	}
	s := after(it.stage)
	if s == stageCount {
		it.done = true
		return false
	}
	it.stage, it.next = s, ""
	return true
}

// needsBlock decides whether the block PATCH is worth sending, and records why not.
func (e *engine) needsBlock(it *item) bool {
	r := &it.res
	f, t := false, true
	switch {
	case r.AccountEnabled != nil && !*r.AccountEnabled && r.PriorAccountEnabled != nil && *r.PriorAccountEnabled:
		r.Blocked = &t
		r.Note = joinNote(r.Note, "sign-in blocked by the run being resumed")
		return false
	case r.AccountEnabled != nil && !*r.AccountEnabled:
		r.Blocked, r.BlockError = &f, "already disabled before this run: not changed"
		return false
	case it.synced:
		r.Blocked, r.BlockError = &f, syncedBlockError
		return false
	}
	return true
}

const syncedBlockError = "synced from on-premises AD: Graph cannot block it; disable the account in AD (sessions were still revoked)"

// needsReset decides whether the password PATCH is worth sending, and records why not. A user
// synced from AD has its password mastered there: a cloud reset is refused, and one that
// landed would be overwritten by the next sync.
func (e *engine) needsReset(it *item) bool {
	r := &it.res
	f, t := false, true
	switch {
	case it.row.ResetDone:
		r.Reset = &t
		r.Note = joinNote(r.Note, "password reset by the run being resumed")
		return false
	case it.synced:
		r.Reset, r.ResetError = &f, syncedResetError
		return false
	}
	return true
}

const syncedResetError = "synced from on-premises AD: Graph cannot reset its password; reset it in AD, twice, as Microsoft advises (sessions were still revoked)"

const syncedNote = "synced from on-premises AD"

// step is what an item asks of Graph now.
func (e *engine) step(it *item, id string) Step {
	s := Step{ID: id, Key: it.row.Key, URL: it.next, Op: stageOps[it.stage]}
	switch it.stage {
	case stMethods:
		if s.URL == "" {
			s.URL = UserPath(it.methodsKey()) + "/authentication/methods"
		}
	case stMethod:
		s.URL = it.mQueue[0].path
	case stDevice:
		if e.cfg.Plan.Enable {
			s.Op = OpEnableDevice
		}
		s.Key = it.dev.ID
	}
	return s
}

// stageOps is the operation each stage asks of Graph (a rollback's device step re-enables).
var stageOps = [stageCount]Op{
	stLookup: OpLookup, stVerify: OpVerify, stOwned: OpOwnedDevices, stRegistered: OpRegisteredDevices,
	stDevice: OpDisableDevice, stBlock: OpBlock, stReset: OpResetPassword, stMethods: OpListMethods,
	stMethod: OpDeleteMethod, stEnable: OpEnable, stRevoke: OpRevoke,
}

// change is the intent to record before a write step leaves, if it changes the directory.
func (e *engine) change(it *item) (Change, bool) {
	switch it.stage {
	case stBlock, stEnable:
		return Change{Line: it.row.Line, TenantID: it.res.TenantID, ID: it.row.Key, Enable: it.stage == stEnable,
			PriorEnabled: it.res.PriorAccountEnabled}, true
	case stDevice:
		return Change{Line: it.dev.Line, TenantID: it.dev.TenantID, Device: true, ID: it.dev.ID, Name: it.dev.DisplayName,
			Enable: e.cfg.Plan.Enable, PriorEnabled: it.dev.PriorEnabled}, true
	}
	return Change{}, false
}

// settled applies the final answer of an item's current step (success or a failure not worth
// retrying) and moves the item on.
func (e *engine) settled(it *item, sr StepResponse, r Result) {
	ok := sr.Status >= 200 && sr.Status < 300
	switch it.stage {
	case stLookup:
		e.lookedUp(it, sr, r, ok)
		return
	case stVerify:
		it.res = r
		if ok {
			readUser(&it.res, sr.Body)
			it.res.Status = StatusWouldRevoke
		}
		it.done = true
	case stBlock:
		it.res.BlockHTTP = sr.Status
		e.stepBefore(it, sr, r, ok, &it.res.Blocked, &it.res.BlockError, blockError)
	case stReset:
		it.res.ResetHTTP = sr.Status
		e.stepBefore(it, sr, r, ok, &it.res.Reset, &it.res.ResetError, resetError)
	case stEnable:
		keep := it.res
		it.res = r
		it.res.PriorAccountEnabled, it.res.Blocked = keep.PriorAccountEnabled, keep.Blocked
		it.res.Status = statusFor(sr.Status, StatusEnabled)
		it.done = true
		e.spawnRestores(it)
	case stRevoke:
		keep := it.res
		it.res = r
		carry(&it.res, keep)
		it.res.Status = statusFor(sr.Status, StatusRevoked)
		if e.cfg.Plan.Block && it.res.Blocked != nil && !*it.res.Blocked && it.res.Status == StatusRevoked &&
			it.res.BlockError != "" && !wasDisabled(it.res) {
			it.res.Note = joinNote(it.res.Note, "sign-in not blocked: "+it.res.BlockError)
		}
		if it.res.Reset != nil && !*it.res.Reset && it.res.Status == StatusRevoked {
			it.res.Note = joinNote(it.res.Note, "password not reset: "+it.res.ResetError)
		}
		e.nextStage(it)
	case stMethods:
		if ok {
			e.methodsListed(it, sr.Body)
			if it.next != "" {
				break // the next page, same stage
			}
			if !it.mListFailed {
				it.mListed = true
				e.decideMethods(it)
				if len(it.mQueue) > 0 {
					it.stage = stMethod
					break
				}
			}
		} else {
			it.mListFailed, it.mListing, it.mListHTTP = true, nil, r.HTTP
			it.mError = joinNote(it.mError, methodsListError(r))
		}
		e.nextStage(it)
	case stMethod:
		e.methodDone(it, sr, r, ok)
		if len(it.mQueue) == 0 {
			e.nextStage(it)
		}
	case stOwned, stRegistered:
		if ok {
			e.devicesListed(it, sr.Body)
			if it.next != "" {
				break // the next page, same stage
			}
		} else {
			it.listFails++
			it.listError = joinNote(it.listError, "cannot list "+map[stage]string{stOwned: "owned", stRegistered: "registered"}[it.stage]+
				" devices: "+describe(r))
		}
		it.listed++
		e.nextStage(it)
	case stDevice:
		e.deviceDone(it, sr, r, ok)
		return
	}
	e.advance(it)
}

// stepBefore settles a step that comes before the revoke (block, reset): whether it was made,
// and why not, go in its own columns, and the user goes on to the next step, for a refused
// block or reset must not keep the sessions alive; only a user Graph no longer has ends here.
func (e *engine) stepBefore(it *item, sr StepResponse, r Result, ok bool, made **bool, why *string, explain func(Result) string) {
	*made = &ok
	if !ok {
		*why = explain(r)
		if sr.Status == http.StatusNotFound {
			it.res = mergeFailure(it.res, r, StatusNotFound)
			it.done = true
			return
		}
	}
	e.nextStage(it)
}

// lookedUp records who the user is; users resolved to an object another line already claimed
// become duplicates (claimLocked says which line wins). Nothing waits for other users' lookups.
func (e *engine) lookedUp(it *item, sr StepResponse, r Result, ok bool) {
	keep := it.res
	it.res = r
	it.res.TenantID = keep.TenantID
	if ok {
		it.synced = readUser(&it.res, sr.Body)
		it.res.PriorAccountEnabled = it.res.AccountEnabled
		if it.row.Prior != nil {
			it.res.PriorAccountEnabled = it.row.Prior
		} else if e.cfg.PriorUsers[strings.ToLower(it.res.UserID)] || e.cfg.PriorUsers[strings.ToLower(it.res.UPN)] {
			t := true
			it.res.PriorAccountEnabled = &t
		}
		it.res.Status = StatusWouldRevoke
		if e.cfg.Plan.Block && e.cfg.Plan.DryRun && it.res.AccountEnabled != nil && *it.res.AccountEnabled && !it.synced {
			it.res.Status = StatusWouldBlock
		}
		if e.cfg.Plan.Confirm && e.cfg.Plan.DryRun {
			it.res.WouldConfirm = true
			it.res.Note = joinNote(it.res.Note, "would confirm compromised")
		}
		if e.cfg.Plan.Reset && e.cfg.Plan.DryRun {
			if it.synced {
				it.res.Note = joinNote(it.res.Note, "password would not be reset: "+syncedResetError)
			} else {
				it.res.WouldReset = true
				it.res.Note = joinNote(it.res.Note, "password would be reset")
			}
		}
	} else {
		it.res.Status = statusFor(sr.Status, StatusWouldRevoke)
		if (e.cfg.Plan.Block || e.cfg.Plan.Reset || e.cfg.Plan.Methods || e.cfg.Plan.Confirm || e.cfg.Plan.Revoke) && !e.cfg.Plan.DryRun {
			if sr.Status == http.StatusNotFound {
				it.done = true
			} else {
				// Not readable (no User.Read.All, a transient fault that ran out): block and
				// revoke anyway, without a prior state to restore.
				it.res.Note = joinNote(it.res.Note, "could not read the user before changing it: "+describe(r))
				it.res.HTTP, it.res.Code, it.res.Message = 0, "", ""
			}
		} else {
			it.done = true
		}
	}
	first := 0
	if ok {
		e.mu.Lock()
		first = e.claimLocked(it.res.TenantID, it.res.UserID, it.row.Line)
		e.mu.Unlock()
	}
	e.releaseLookup(it, first)
}

// claimLocked records a user's object as line's and returns 0, or returns the line whose row
// this line's becomes a duplicate of. Of two lines naming one object, the earlier wins while the
// later has not committed (no step after its lookup has left, its row is not written): the later
// then becomes the earlier's duplicate when it next comes up (see commitLocked). Once the later
// line has committed, the earlier line is reported as its duplicate, and the later row notes the
// earlier line. e.mu must be held.
func (e *engine) claimLocked(tenantID, userID string, line int) int {
	id := strings.ToLower(userID)
	if id == "" {
		return 0
	}
	key := tenantID + "/" + id
	holder, seen := e.resolved[key]
	switch {
	case !seen || holder == line:
		e.resolved[key] = line
		return 0
	case holder < line:
		return holder
	}
	if h := e.byLine[holder]; h != nil && !h.committed {
		h.dupOf = line
		e.resolved[key] = line
		return 0
	}
	if h := e.byLine[holder]; h != nil {
		h.sameAs = append(h.sameAs, line)
	}
	return holder
}

// commitLocked is the point after which a user's object is no longer taken over by an earlier
// line: it returns the earlier line that took it over before, else 0 and commits. e.mu must be
// held.
func (e *engine) commitLocked(it *item) int {
	if it.dupOf != 0 {
		return it.dupOf
	}
	it.committed = true
	return 0
}

// releaseLookup moves a looked-up user on: a duplicate of the earlier line first, or to its
// next stage.
func (e *engine) releaseLookup(it *item, first int) {
	if first != 0 {
		e.finalizeAsDuplicate(it, first)
		return
	}
	if it.done {
		e.settleUser(it)
		return
	}
	if e.cfg.Plan.Block || e.cfg.Plan.Reset || e.cfg.Plan.Methods || e.cfg.Plan.Revoke || e.cfg.Plan.Devices {
		if !e.nextStage(it) {
			e.settleUser(it)
			return
		}
		e.advance(it)
		return
	}
	it.done = true
	e.settleUser(it)
}

// finalizeAsDuplicate reports a user whose lookup resolved to the object another line holds.
func (e *engine) finalizeAsDuplicate(it *item, first int) {
	r := it.res
	// What the row's own steps would have done is the other line's to report: a duplicate
	// claims no block, and a rollback must find the user once.
	r.Blocked, r.BlockError, r.Note = nil, "", ""
	r.Reset, r.ResetError, r.WouldReset = nil, "", false
	r.BlockHTTP, r.ResetHTTP = 0, 0
	r.RiskConfirmed, r.RiskError, r.WouldConfirm = nil, "", false
	r.Status, r.Code = StatusDuplicate, "duplicate_user"
	r.Message = "same user as line " + strconv.Itoa(first) + " (both resolve to object " + r.UserID + ")"
	if first > it.row.Line {
		r.Message += "; line " + strconv.Itoa(first) + " was answered and sent first"
	}
	it.res = r
	e.mu.Lock()
	it.dupOf, it.committed = 0, true
	if f := e.byLine[first]; f != nil {
		delete(e.byLine, it.row.Line)
		it.res.At = e.cfg.Clock.Now()
		f.dups = append(f.dups, it.res)
		e.mu.Unlock()
		e.release(it)
		return
	}
	st, _ := e.outcomes.get(first)
	e.mu.Unlock()
	it.res.DupStatus = st
	it.res.Note = joinNote(it.res.Note, string(st)+" at line "+strconv.Itoa(first))
	it.done = true
	e.settleUser(it)
}

// devicesListed takes one page of a user's devices.
func (e *engine) devicesListed(it *item, body map[string]any) {
	it.next = ""
	if link, _ := body["@odata.nextLink"].(string); link != "" {
		if rel, err := RelativeTo(it.t.lanes[0].base(), link); err == nil {
			it.next = rel
		} else {
			it.listError = joinNote(it.listError, err.Error())
		}
	}
	values, _ := body["value"].([]any)
	var direct, spawn []DeviceResult
	for _, v := range values {
		m, _ := v.(map[string]any)
		id, _ := m["id"].(string)
		if id == "" {
			continue
		}
		lid := strings.ToLower(id)
		if slices.Contains(it.counted, lid) {
			continue // owned and registered by the same user: once
		}
		it.counted = append(it.counted, lid)
		it.found++
		e.mu.Lock()
		_, seen := e.devices[lid]
		if !seen {
			e.devices[lid] = it.row.Line
		}
		e.mu.Unlock()
		if seen {
			continue // reported with the user it was found for first
		}
		d := DeviceResult{Line: it.row.Line, TenantID: it.res.TenantID, User: it.row.Input, ID: id, At: e.cfg.Clock.Now()}
		d.DeviceID, _ = m["deviceId"].(string)
		d.DisplayName, _ = m["displayName"].(string)
		if b, ok := m["accountEnabled"].(bool); ok {
			d.PriorEnabled = &b
		}
		synced, _ := m["onPremisesSyncEnabled"].(bool)
		switch {
		case d.PriorEnabled != nil && !*d.PriorEnabled && e.cfg.PriorDevices[strings.ToLower(id)]:
			// Disabled by the run being resumed: its outcome, and its state before that run.
			t := true
			d.PriorEnabled, d.Outcome, d.Message = &t, DeviceDisabled, "disabled by the run being resumed"
			e.mu.Lock() // devices of the first listing may be finishing on other workers
			it.disabled++
			e.mu.Unlock()
		case d.PriorEnabled != nil && !*d.PriorEnabled:
			d.Outcome = DeviceAlreadyDisabled
		case synced:
			d.Outcome, d.Message = DeviceSynced, "synced from on-premises AD: disable it there"
		case e.cfg.Plan.DryRun:
			d.Outcome = DeviceWouldDisable
		default:
			spawn = append(spawn, d)
			continue
		}
		direct = append(direct, d)
	}
	e.writeDevices(direct...)
	e.spawn(it, spawn)
}

// spawn starts child items that PATCH devices. All are counted before any is sent: a child
// that finishes at once must not find its user with no children left and finish it early.
func (e *engine) spawn(parent *item, ds []DeviceResult) {
	if len(ds) == 0 {
		return
	}
	children := make([]*item, len(ds))
	for i := range ds {
		d := ds[i]
		child := &item{row: Row{Line: parent.row.Line, Input: parent.row.Input, Tenant: parent.row.Tenant, Key: d.ID},
			t: parent.t, stage: stDevice, parent: parent, dev: &d}
		child.res = Result{Line: parent.row.Line, TenantID: parent.res.TenantID}
		children[i] = child
	}
	e.mu.Lock()
	parent.children += len(children)
	e.mu.Unlock()
	e.live.Add(len(children))
	e.enqueue(children...)
}

// spawnRestores starts the device re-enables of a rollback row.
func (e *engine) spawnRestores(it *item) {
	if it.row.Restore == nil {
		return
	}
	var ds []DeviceResult
	for _, d := range it.row.Restore.Devices {
		d.Line, d.TenantID, d.User = it.row.Line, it.res.TenantID, it.row.Input
		it.found++
		ds = append(ds, d)
	}
	e.spawn(it, ds)
}

// deviceDone settles a device's PATCH.
func (e *engine) deviceDone(it *item, sr StepResponse, r Result, ok bool) {
	d := it.dev
	d.HTTP, d.Code, d.Message, d.RequestID, d.At = sr.Status, r.Code, r.Message, r.RequestID, e.cfg.Clock.Now()
	switch {
	case ok && e.cfg.Plan.Enable:
		d.Outcome = DeviceEnabled
	case ok:
		d.Outcome = DeviceDisabled
	default:
		// A device synced from on-premises is known from its listing and never PATCHed; a 400
		// here is Graph's answer for this device, reported with its own message.
		d.Outcome = DeviceFailed
	}
	e.writeDevices(*d)
	parent := it.parent
	e.live.Done()
	// A user's devices answer in different envelopes, on different workers.
	e.mu.Lock()
	if ok {
		parent.disabled++
	}
	parent.children--
	last := parent.children == 0 && parent.settled
	e.mu.Unlock()
	if last {
		e.finish(parent)
	}
}

// settleUser finishes a user whose steps are done, unless its devices are still on their way.
func (e *engine) settleUser(it *item) {
	it.done = true
	e.mu.Lock()
	it.settled = true
	wait := it.children > 0
	// A user whose own steps are done and whose confirmation is still out lets the next user
	// of its tenant in: Identity Protection's one call a second, throttled, must not hold back
	// other users' revokes by keeping MaxPending full.
	free := wait && it.slot && it.riskAsked && it.riskOK == nil
	if free {
		it.slot = false
	}
	e.mu.Unlock()
	if free {
		<-it.t.slots
	}
	if !wait {
		e.finish(it)
	}
}

// finish writes a user's row (and the duplicates waiting for it) and lets the next user in.
func (e *engine) finish(it *item) {
	r := it.res
	r.Line, r.Input = it.row.Line, it.row.Input
	if r.At.IsZero() {
		r.At = e.cfg.Clock.Now()
	}
	if e.cfg.Plan.Devices || (e.cfg.Plan.Enable && it.row.Restore != nil && len(it.row.Restore.Devices) > 0) {
		if it.listed >= 2 || e.cfg.Plan.Enable {
			n, d := it.found, it.disabled
			r.Devices, r.DevicesDisabled = &n, &d
		}
		if it.listError != "" {
			r.Note = joinNote(r.Note, it.listError)
		}
		r.DeviceListFailed = it.listFails > 0
	}
	if e.cfg.Plan.Enable && it.row.Restore != nil && !it.row.Restore.User && r.Status == "" {
		r.Status, r.Note = StatusUnchanged, joinNote(r.Note, "sign-in was not changed by the run being undone")
	}
	if r.Status == "" {
		r.Status = StatusNotAttempted
	}
	e.withRisk(it, &r)
	r.Note = joinNote(notes(r), r.Note)
	e.finalize(it, r)
}

// finalize writes an item's final row and releases it.
func (e *engine) finalize(it *item, r Result) {
	e.unprobe(it)
	if it.parent != nil {
		// A device never started: report it, and let its user finish.
		d := *it.dev
		d.Outcome, d.Code, d.Message, d.At = DeviceNotAttempted, r.Code, r.Message, e.cfg.Clock.Now()
		e.writeDevices(d)
		parent := it.parent
		e.live.Done()
		e.mu.Lock()
		parent.children--
		last := parent.children == 0 && parent.settled
		e.mu.Unlock()
		if last {
			e.finish(parent)
		}
		return
	}
	e.mu.Lock()
	if first := e.commitLocked(it); first != 0 {
		// An earlier line took this user's object over before this row was written.
		e.mu.Unlock()
		e.finalizeAsDuplicate(it, first)
		return
	}
	dups := it.dups
	it.dups = nil
	for _, l := range it.sameAs {
		r.Note = joinNote(r.Note, "same user as line "+strconv.Itoa(l))
	}
	delete(e.byLine, it.row.Line)
	e.mu.Unlock()
	e.methodColumns(it, &r)
	for i := range dups {
		dups[i].DupStatus = r.Status
		dups[i].Note = joinNote(dups[i].Note, string(r.Status)+" at line "+strconv.Itoa(r.Line))
		if dups[i].At.IsZero() {
			dups[i].At = r.At
		}
	}
	e.write(append([]Result{r}, dups...)...)
	e.release(it)
}

// release lets the producer bring in another user of the item's tenant.
func (e *engine) release(it *item) {
	// A second release would give away another item's hold on live: Run could return with
	// that item's row unwritten. Said here, where it happens, rather than as a lost row.
	if it.released {
		panic("batch: the item of line " + strconv.Itoa(it.row.Line) + " (" + it.stage.String() + " step) was released twice")
	}
	it.released = true
	if it.slot {
		it.slot = false
		<-it.t.slots
	}
	e.live.Done()
}

// abandoned is an item's row when the run stops before its steps are done.
func (e *engine) abandoned(it *item) Result {
	r := it.res
	e.withRisk(it, &r)
	if it.parent == nil && it.done {
		return r // only its devices were left
	}
	r.Line, r.Input, r.At = it.row.Line, it.row.Input, e.cfg.Clock.Now()
	if it.stage == stDevice && it.parent == nil {
		return r
	}
	if r.Status == StatusRevoked && it.stage != stRevoke {
		// Revoked; only device steps were left.
		r.Note = joinNote(r.Note, "the run stopped before this user's devices were done")
		return r
	}
	r.Status = StatusNotAttempted
	r.Code = "interrupted"
	r.Message = "the run stopped before this user was sent"
	if it.sentSome {
		// Its request left and no answer came back before the run stopped: Graph may have
		// done it. --resume sends it again; every step of the plan is safe to repeat.
		r.Code = "no_answer"
		r.Message = "the run stopped after this user's " + it.stage.String() + " was sent and before Graph's answer came back: it may have been done; --resume sends it again"
		if it.last.Code != "" {
			r.Message += "; last error: " + describe(it.last)
		}
		return r
	}
	if it.res.Attempts > 0 {
		r.Message = "the run stopped before this user's " + it.stage.String() + " was sent"
		if it.last.HTTP != 0 || it.last.Code != "" {
			r.HTTP, r.RequestID = it.last.HTTP, it.last.RequestID
			r.Message += "; last answer: " + describe(it.last)
		}
	}
	return r
}

// laneless is an item's row when every app of its tenant was dropped mid-run.
func (e *engine) laneless(it *item) Result {
	r := e.abandoned(it)
	if r.Status == StatusNotAttempted {
		r.Status, r.Code = StatusDenied, "lane_dropped"
		r.Message = "every app signed in to this tenant was dropped: " + it.t.dropReason()
	}
	return r
}

func (s stage) String() string {
	return [...]string{"lookup", "verification", "device listing", "device listing", "device change", "block", "password reset",
		"authentication method listing", "authentication method removal", "re-enable", "revoke", "?"}[s]
}

// statusFor maps a final step status to the row's status, success being ok.
func statusFor(status int, ok Status) Status {
	switch {
	case status >= 200 && status < 300:
		return ok
	case status == http.StatusNotFound:
		return StatusNotFound
	case status == http.StatusForbidden:
		return StatusDenied
	}
	return StatusFailed
}

// carry keeps what earlier steps learned when a later step's answer becomes the row.
func carry(r *Result, keep Result) {
	if r.UserID == "" {
		r.UserID = keep.UserID
	}
	if r.UPN == "" {
		r.UPN = keep.UPN
	}
	r.TenantID = keep.TenantID
	r.DisplayName, r.AccountEnabled, r.UserType = keep.DisplayName, keep.AccountEnabled, keep.UserType
	r.PriorAccountEnabled, r.Blocked, r.BlockError = keep.PriorAccountEnabled, keep.Blocked, keep.BlockError
	r.Reset, r.ResetError, r.WouldReset = keep.Reset, keep.ResetError, keep.WouldReset
	r.Synced, r.BlockHTTP, r.ResetHTTP = keep.Synced, keep.BlockHTTP, keep.ResetHTTP
	r.WouldConfirm = keep.WouldConfirm
	r.Note = joinNote(keep.Note, r.Note)
}

func mergeFailure(keep, r Result, st Status) Result {
	out := r
	carry(&out, keep)
	out.Status = st
	return out
}

// wasDisabled reports whether a row's block was not needed because the user was disabled already.
func wasDisabled(r Result) bool {
	return r.PriorAccountEnabled != nil && !*r.PriorAccountEnabled
}

// blockError says why Graph did not make a block. A synced user is known from its lookup and
// never sent one; a 400 here is reported with Graph's own message.
func blockError(r Result) string {
	switch {
	case r.HTTP == http.StatusForbidden:
		return "not allowed (HTTP 403 " + r.Code + "): blocking an admin needs the Privileged Authentication Administrator or Global Administrator role"
	}
	return describe(r)
}

// resetError says why Graph did not reset a password, keeping Graph's own message. Graph gives
// the same 403 for a missing permission and for an admin the app may not touch; the role is
// named because that is the case a permission granted to the app does not cure.
func resetError(r Result) string {
	if r.HTTP == http.StatusForbidden {
		return "not allowed (" + describe(r) + "): resetting an admin's password needs the Privileged Authentication Administrator role (User Administrator covers only some admins); every reset needs User-PasswordProfile.ReadWrite.All"
	}
	return describe(r)
}

// readUser fills what a user read returned; it reports whether the user is synced from
// on-premises AD.
func readUser(r *Result, body map[string]any) (synced bool) {
	if s, ok := body["id"].(string); ok {
		r.UserID = s
	}
	if s, ok := body["userPrincipalName"].(string); ok {
		r.UPN = s
	}
	if s, ok := body["displayName"].(string); ok {
		r.DisplayName = s
	}
	if s, ok := body["userType"].(string); ok {
		r.UserType = s
	}
	if b, ok := body["accountEnabled"].(bool); ok {
		r.AccountEnabled = &b
	}
	if b, ok := body["onPremisesSyncEnabled"].(bool); ok && b {
		synced, r.Synced = true, true
		r.Note = joinNote(r.Note, syncedNote)
	}
	if s, ok := body["signInSessionsValidFromDateTime"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			r.SessionsValidFrom = t
		}
	}
	return synced
}

// notes flags what an admin must know about a user beyond the status.
func notes(r Result) string {
	var n []string
	if strings.EqualFold(r.UserType, "Guest") || strings.Contains(strings.ToUpper(r.UPN), "#EXT#") {
		n = append(n, "guest: only sessions with this tenant are revoked, not those in the user's home tenant")
	}
	if r.AccountEnabled != nil && !*r.AccountEnabled && (r.PriorAccountEnabled == nil || !*r.PriorAccountEnabled) {
		n = append(n, "account disabled")
	}
	return strings.Join(n, "; ")
}

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "" || strings.Contains(a, b):
		return a
	}
	return a + "; " + b
}
