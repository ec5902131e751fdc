package batch

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MethodSink receives one MethodResult per authentication method a run listed, as soon as its
// fate is known. It is flushed with the Sink.
type MethodSink interface {
	WriteMethods(ms ...MethodResult) error
}

// methodSegments are the v1.0 method types a DELETE can name, by type: a type Graph adds later
// has an endpoint this release cannot know (Graph's names do not follow one rule), so such a
// method is reported, never guessed at. The password method has none: it is never removed.
var methodSegments = map[string]string{
	"email":                   "emailMethods",
	"fido2":                   "fido2Methods",
	"microsoftAuthenticator":  "microsoftAuthenticatorMethods",
	"phone":                   "phoneMethods",
	"platformCredential":      "platformCredentialMethods",
	"softwareOath":            "softwareOathMethods",
	"temporaryAccessPass":     "temporaryAccessPassMethods",
	"windowsHelloForBusiness": "windowsHelloForBusinessMethods",
}

// removal is a method waiting for its DELETE.
type removal struct {
	m       MethodResult
	path    string // relative to the versioned root
	mobile  bool   // a phone of type mobile: Graph keeps it while an alternate mobile exists
	retried bool   // refused once and sent again after the user's other removals
}

// methodsListed takes one page of a user's authentication methods.
func (e *engine) methodsListed(it *item, body map[string]any) {
	it.next = ""
	if link, _ := body["@odata.nextLink"].(string); link != "" {
		rel, err := RelativeTo(it.t.lanes[0].base(), link)
		if err != nil {
			// Deciding on part of the list could remove a mobile phone before the alternate
			// one on the page not read: nothing is removed.
			it.mError = joinNote(it.mError, "cannot list all authentication methods: "+err.Error())
			it.mListing = nil
			it.mListFailed = true
			return
		}
		it.next = rel
	}
	values, _ := body["value"].([]any)
	for _, v := range values {
		if m, ok := v.(map[string]any); ok {
			it.mListing = append(it.mListing, m)
		}
	}
}

// decideMethods sorts a user's listed methods, once the listing is whole: those created at or
// after the cut-off are removed (in a dry run, would be), the others kept and reported. It
// writes the rows of the methods kept and queues the removals in an order Graph accepts:
// a mobile phone after the alternate mobile phone.
func (e *engine) decideMethods(it *item) {
	since := e.cfg.MethodsSince
	e.lostRemovals(it)
	var direct []MethodResult
	for _, raw := range it.mListing {
		m, known := e.readMethod(it, raw)
		switch {
		case m.Type == "password":
			m.Outcome = MethodKeptPassword
		case m.Created.IsZero():
			m.Outcome = MethodKeptUnknownAge
		case m.Created.Before(since):
			m.Outcome = MethodKeptOlder
		case !known:
			m.Outcome, m.Code = MethodFailed, "unknown_method_type"
			m.Message = "created after the cut-off, but of a type (" + m.Type + ") bulkrevoke cannot remove: remove it in the Entra admin center (the user > Authentication methods)"
			it.mLeft++
		case e.cfg.Plan.DryRun:
			m.Outcome = MethodWouldRemove
			it.mWould++
		default:
			phoneType, _ := raw["phoneType"].(string)
			it.mQueue = append(it.mQueue, &removal{m: m, mobile: m.Type == "phone" && strings.EqualFold(phoneType, "mobile"),
				path: UserPath(it.methodsKey()) + "/authentication/" + methodSegments[m.Type] + "/" + EscapeKey(m.ID)})
			continue
		}
		if m.Outcome == MethodKeptUnknownAge {
			it.mUnknown++
		}
		direct = append(direct, m)
	}
	it.mListing = nil
	slices.SortStableFunc(it.mQueue, func(a, b *removal) int {
		switch {
		case a.mobile == b.mobile:
			return 0
		case a.mobile:
			return 1
		}
		return -1
	})
	e.writeMethods(direct...)
}

// beforeRemove records the removals of an envelope before it leaves.
func (e *engine) beforeRemove(items []*item) error {
	if e.cfg.BeforeRemove == nil {
		return nil
	}
	var ms []MethodResult
	for _, it := range items {
		if it.parent == nil && it.stage == stMethod && len(it.mQueue) > 0 {
			m := it.mQueue[0].m
			m.Outcome, m.At = MethodRemoving, e.cfg.Clock.Now()
			m.Message = "removal sent; a later row of this method says how it ended (without one, the run stopped before the answer and the method may be gone)"
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return nil
	}
	return e.cfg.BeforeRemove(ms)
}

// lostRemovals reports the removals the run being resumed sent and never heard back about whose
// methods the listing no longer shows: that run removed them.
func (e *engine) lostRemovals(it *item) {
	prior := e.cfg.PriorRemoving[it.row.Line]
	if len(prior) == 0 {
		return
	}
	listed := map[string]bool{}
	for _, raw := range it.mListing {
		if id, _ := raw["id"].(string); id != "" {
			listed[strings.ToLower(id)] = true
		}
	}
	var ms []MethodResult
	for _, m := range prior {
		if listed[strings.ToLower(m.ID)] {
			continue // not removed: decided again now
		}
		m.Outcome, m.HTTP, m.Code, m.At = MethodRemoved, 0, "", e.cfg.Clock.Now()
		m.Message = "removed by the run being resumed, which stopped before Graph's answer was recorded: no longer listed"
		it.mRemoved++
		ms = append(ms, m)
	}
	e.writeMethods(ms...)
}

// methodsKey addresses the user for its methods' steps: the object id once known.
func (it *item) methodsKey() string {
	if it.res.UserID != "" {
		return it.res.UserID
	}
	return it.row.Key
}

// readMethod reads one listed method; known says whether this release can remove its type.
func (e *engine) readMethod(it *item, raw map[string]any) (MethodResult, bool) {
	m := MethodResult{Line: it.row.Line, TenantID: it.res.TenantID, User: it.row.Input, At: e.cfg.Clock.Now()}
	m.ID, _ = raw["id"].(string)
	odata, _ := raw["@odata.type"].(string)
	m.Type = odata
	if s, ok := strings.CutPrefix(odata, "#microsoft.graph."); ok {
		if t, ok := strings.CutSuffix(s, "AuthenticationMethod"); ok && t != "" {
			m.Type = t
		}
	}
	if m.Type == "" {
		m.Type = "unknown"
	}
	if s, _ := raw["createdDateTime"].(string); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			m.Created = t
		} else {
			m.Message = "createdDateTime " + strconv.Quote(s) + " is not a time: its age is unknown"
		}
	}
	str := func(k string) string { s, _ := raw[k].(string); return s }
	switch m.Type {
	case "phone":
		m.DisplayName = strings.TrimSpace(str("phoneType") + " " + str("phoneNumber"))
	case "email":
		m.DisplayName = str("emailAddress")
	case "fido2":
		m.DisplayName = cmpOr(str("displayName"), str("model"))
	default:
		m.DisplayName = cmpOr(str("displayName"), str("model"), str("deviceTag"))
	}
	_, known := methodSegments[m.Type]
	return m, known && m.ID != ""
}

func cmpOr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// methodDone settles the DELETE of the first method waiting. Graph's refusals that order can
// cure (the default method while others remain) are sent again once, after the user's other
// removals. Which method is the default v1.0 does not say, and Graph's code for the refusal is
// not documented: any 400 of the user's own step qualifies, at the cost of one request.
func (e *engine) methodDone(it *item, sr StepResponse, r Result, ok bool) {
	x := it.mQueue[0]
	it.mQueue = it.mQueue[1:]
	m := x.m
	m.HTTP, m.RequestID, m.At = sr.Status, r.RequestID, e.cfg.Clock.Now()
	switch {
	case ok:
		m.Outcome, m.Code, m.Message = MethodRemoved, "", ""
		it.mRemoved++
	case sr.Status == http.StatusNotFound:
		// Gone already: an earlier attempt whose answer was lost removed it, or someone did.
		m.Outcome, m.Code = MethodRemoved, r.Code
		m.Message = "already gone when removed (HTTP 404): removed by an attempt whose answer was lost, or by someone else"
		it.mRemoved++
	case sr.Status == http.StatusBadRequest && sr.ID != "" && !x.retried && len(it.mQueue) > 0:
		// The user's own step answered 400 (an envelope Graph refused whole has no step id):
		// the refusal order can cure, the default method while others remain.
		x.retried = true
		it.mQueue = append(it.mQueue, x)
		return
	default:
		m.Outcome, m.Code, m.Message = MethodFailed, r.Code, methodError(r)
		it.mLeft++
	}
	e.writeMethods(m)
}

// methodError says why Graph did not remove a method, keeping Graph's own message.
func methodError(r Result) string {
	msg := cmpOr(r.Message, describe(r))
	switch r.HTTP {
	case http.StatusBadRequest:
		return msg + " (Graph keeps a user's default sign-in method while others remain, and a mobile phone while an alternate mobile phone exists: change the user's default method, or remove the other, in the Entra admin center, then remove this one)"
	case http.StatusForbidden:
		return msg + " (removing methods needs UserAuthenticationMethod.ReadWrite.All; for an admin, the Privileged Authentication Administrator role)"
	}
	return msg
}

// methodColumns puts what happened to a user's methods in its row, and reports as not
// attempted the removals a stopped run did not send or did not hear back about.
func (e *engine) methodColumns(it *item, r *Result) {
	if !e.cfg.Plan.Methods || it.mDone {
		return
	}
	it.mDone = true
	if len(it.mQueue) > 0 {
		ms := make([]MethodResult, 0, len(it.mQueue))
		for i, x := range it.mQueue {
			m := x.m
			m.Outcome, m.At = MethodNotAttempted, e.cfg.Clock.Now()
			m.Message = "the run stopped before this method was removed; --resume lists the user's methods again"
			if i == 0 && it.stage == stMethod && it.sentSome {
				if e.cfg.BeforeRemove != nil {
					// Its removing row stands: it may be gone, and a resumed run that no
					// longer finds it reports it removed.
					it.mLeft++
					continue
				}
				m.Message = "the run stopped after its removal was sent and before Graph's answer came back: it may be gone; --resume lists the user's methods again"
			}
			ms = append(ms, m)
		}
		it.mLeft += len(ms)
		it.mQueue = nil
		e.writeMethods(ms...)
	}
	if it.mListed && !e.cfg.Plan.DryRun && !it.mListFailed {
		n := it.mRemoved
		r.MethodsRemoved = &n
	}
	if it.mListed && e.cfg.Plan.DryRun {
		if it.mWould > 0 {
			r.Note = joinNote(r.Note, strconv.Itoa(it.mWould)+" authentication method(s) would be removed")
		}
	}
	if it.mUnknown > 0 {
		r.Note = joinNote(r.Note, strconv.Itoa(it.mUnknown)+" authentication method(s) of unknown age kept: review them")
	}
	err := it.mError
	if it.mLeft > 0 {
		err = joinNote(err, strconv.Itoa(it.mLeft)+" authentication method(s) not removed (see the methods report)")
	}
	r.MethodsError, r.MethodsListHTTP = err, it.mListHTTP
}

// methodsListError says why Graph would not list a user's methods.
func methodsListError(r Result) string {
	if r.HTTP == http.StatusForbidden {
		return "cannot list authentication methods (" + describe(r) + "): needs UserAuthenticationMethod.ReadWrite.All; for an admin, the Privileged Authentication Administrator role"
	}
	return "cannot list authentication methods: " + describe(r)
}

func (e *engine) writeMethods(ms ...MethodResult) {
	if len(ms) == 0 || e.cfg.Methods == nil {
		return
	}
	if err := e.cfg.Methods.WriteMethods(ms...); err != nil {
		e.fail(writeError("writing the methods report", err))
	}
}
