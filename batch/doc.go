// Package batch is bulkrevoke's engine: it turns input rows into Microsoft Graph $batch
// envelopes and every row into exactly one classified Result, paced on Graph's quotas, with
// retry, several sign-ins (lanes) per tenant, and cancellation.
//
// # Read this first
//
// The path of a row, with the function that does each part:
//
//  1. Source (Reader, JSONReader, Rows): a row with a key, a kind and a tenant.
//  2. produce: rows that never reach Graph (invalid, excluded, a tenant no lane reaches,
//     input duplicates) are written at once; the others become items, each holding one of its
//     tenant's MaxPending slots, and go to the tenant's queue for their first step's class
//     (reads: lookup, verify, device and method listings; writes: device, block, reset, method
//     removal, enable, revoke).
//  3. schedule (one per tenant and class): packs items into envelopes of up to BatchSize,
//     later steps and retries first.
//  4. worker (Concurrency per lane and class): waits until its lane could send (no probe
//     pending, no auth backoff, room in the pacer), then takes an envelope from the queue, so
//     that a lane held back leaves the tenant's work to its other lanes.
//  5. send: commit (the duplicate rule), pacer.acquire (the quota wait, or errHandedBack to the
//     tenant's queue when another lane can send it sooner), BeforeChange (the changes journal),
//     Client.Send, logEnvelope, pacer.settle.
//  6. answer: CheckRetry and RetryWait (classify.go) decide from each step's own answer: next
//     stage (enqueue), retry after a wait (later), another lane for a 403 (sendElsewhere), or
//     final (finish, finalize).
//  7. finalize: the row, and the duplicate rows waiting for it, go to the Sink; release frees
//     the slot and the item's hold on live.
//
// With Plan.Confirm (risk.go), commit also hands each user, once its object is its own, to its
// tenant's riskQueue: confirmLoop (one per tenant) sends Identity Protection's
// confirmCompromised outside $batch, many ids a call and a call a second at most, and settles
// each user through confirmed. Until then the confirmation counts among the user's children,
// so that the row waits for it as for its devices while the user's other steps go on.
//
// Goroutines and channels:
//   - Run starts the schedulers, the workers and one producer, waits on live (one hold per
//     item not yet final, and one for the producer), then closes every queue's in and waits.
//   - queue.in: sent to by produce, enqueue, and the goroutines of later, requeue and
//     sendElsewhere, only with items that are not final, so never after Run closed it. Its
//     scheduler receives until it is closed, which is why those sends need no select.
//   - queue.work: the scheduler owns it and closes it when it returns; workers receive.
//   - queue.dead: closed once by drop, when the tenant's last lane is dropped; the scheduler
//     then finalizes what it holds as laneless.
//   - tenant.slots: MaxPending tokens; produce sends, release receives (or settleUser, for a
//     user whose own steps are done and whose confirmation is still out).
//   - riskQueue.wake: a one-slot signal from add to confirmLoop; never closed.
//   - lane.clear: made by probe, closed by unprobe when the lane's last probe settles.
//
// Locks, and what each guards:
//   - engine.mu: outcomes, byLine, devices, resolved, and the items' duplicate fields
//     (committed, dupOf, sameAs, dups) and device accounting (children, settled, disabled).
//   - engine.waitsMu: the waits Graph imposed (waitEnd, Stats.Waits and Waited).
//   - riskQueue.mu: its pending users, denied and stopped; engine.mu also guards the items'
//     confirmation outcome (riskAsked, riskOK, riskErr, riskNote); engine.riskMu
//     Stats.RiskDenied.
//   - engine.fatalMu, engine.sinkMu: fatal errors; the first failed report write.
//   - lane.mu: auth backoff, refusals in a row, probes.
//   - controller.mu (pace.go): every quota and pacer; the engine reaches them only through
//     pacer.acquire, settle and wouldWait.
//
// # Rules, and the tests that hold them
//
//   - Every row ends in exactly one report row with a final status, also when the run is
//     cancelled, the sink fails or the network does: TestRunMixed, TestCancel, TestSinkFaults,
//     TestFaultMatrix. An item released twice panics (release): TestReleaseTwice.
//   - A step whose envelope left and got no answer is no_answer, never not_attempted:
//     TestNoAnswerInFlight.
//   - A quota Graph closed with Retry-After is not asked again before it ends:
//     TestThrottleStormSlidingWindow, TestContain.
//   - A 403 is the user's own answer; a lane is dropped only on evidence about the lane (its
//     token lacks the permission, or other apps served users it was refused):
//     TestAdminsFirstPool, TestAdminsFirstTenants, TestConsentLostRolesClaim,
//     TestLaneLostConsentAnswersOutOfOrder.
//   - A 503 is a throttle unless other users of the tenant were served meanwhile; one user
//     Graph cannot serve delays only itself: TestStuckUserDelaysOnlyItself.
//   - Retries of one envelope go back together: TestRetriesTravelTogether.
//   - Envelopes wait for a quota in the order they asked, and a settle wakes only the
//     envelopes of quotas it changed: TestPacerOrder, TestPacerWakes.
//   - A quota several lanes share admits few steps in flight across all of them:
//     TestSharedInFlight.
//   - An envelope its lane's quota holds back goes to a lane that can send it sooner:
//     TestHandBack.
//   - A trailing window's charge leaves our count a window after its answer at the earliest:
//     TestWindowLeavesAfterAnswer. The window is dated from the shortest round trip seen and from
//     charges sent after the refused one: TestDateWindowStalledTrip, TestOverdrawInFlight. An
//     envelope on its way at a lesson that Graph admitted raises the share, up to what the
//     window held: TestAdmittedLate. A lane sends one envelope at a time within a lesson's doubt
//     and at the end of a first burst, and a 90% report does not slow a window's replay:
//     TestNearInDoubt, TestHintSlidingReplay. Both readings of whether Graph charges what it
//     refuses hold the sliding-window cells: TestFreeRefusals (package bench).
//   - Per user, block before reset before method removals before revoke: TestContain,
//     TestResetOrder, TestMethodsRemoved.
//   - Methods are decided once a user's listing is whole: removed exactly those created at or
//     after the cut-off, never the password, unknown ages kept and counted, mobile after
//     alternateMobile, a 400 sent again once after the user's other removals:
//     TestMethodsRemoved; a dry run lists exactly what a real run removes:
//     TestMethodsDryRunMatches.
//   - Duplicates are decided by the object a row resolves to, within its tenant:
//     TestLookup, and package main's duplicate and exclusion tests.
//   - Every Status has a code in the outcome log: TestOutcomeLogKnowsEveryStatus.
//   - A device listing Graph refused is a failure of its own, not zero devices:
//     TestDeviceListingFailed.
//   - One classifier decides retry and wait for the engine, the listing and the lookups:
//     TestCheckRetry, TestRetryWait, TestListThrottled.
//   - confirmCompromised: at most one call a second per tenant, up to 60 ids a call, 429s
//     without Retry-After waited out with a backoff that grows, the revoke never held back:
//     TestConfirmCalls; a 400 naming the count halves it: TestConfirmHalving, TestNamesCount; a
//     tenant's 403 skips the step for its users only, once: TestConfirmNoP2 (in an app pool, once
//     every app was refused: TestConfirmPoolPermission); a dry run sends
//     none: TestConfirmDryRun; a row a resumed run confirmed is not confirmed again:
//     TestConfirmResumed; rows that waited for a call are flushed before the next:
//     TestConfirmFlushed; a call without an answer, or a 5xx, is sent again up to MaxAttempts:
//     TestConfirmFaults; a user waiting only for its confirmation holds no MaxPending place:
//     TestConfirmFreesSlots.
package batch
