package batch_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

type fixedToken string

func (t fixedToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t)}, nil
}

// gatedTransport lets a test order the answers of one lane's envelopes: the first is served and
// then held until release1, every one after the second waits for release2 before it is served.
type gatedTransport struct {
	next       http.RoundTripper
	onFirst    func() // runs once Graph has served the first envelope
	mu         sync.Mutex
	n          int
	served     chan struct{} // closed when the first is served
	second     chan struct{} // closed when the second's answer is handed back
	release1   chan struct{}
	release2   chan struct{}
	secondOnce sync.Once
}

func (g *gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	switch {
	case n == 1:
		res, err := g.next.RoundTrip(req)
		g.onFirst()
		close(g.served)
		<-g.release1
		return res, err
	case n == 2:
		<-g.served
		defer g.secondOnce.Do(func() { close(g.second) })
		return g.next.RoundTrip(req)
	default:
		<-g.release2
		return g.next.RoundTrip(req)
	}
}

// TestLaneLostConsentAnswersOutOfOrder: an app's consent goes while its envelopes are on their
// way, and the answer to one that Graph served before the others (still with the consent)
// arrives after the first 403s. That late success says nothing about the others: the lane is
// still dropped and every user of its refused envelopes is revoked by the other app, none
// reported denied. Which of the lane's envelopes Graph serves first is up to the scheduler, as
// on the network.
func TestLaneLostConsentAnswersOutOfOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(2000)
		tenant, apps := twoApps()
		sim := graphsim.New(graphsim.Config{Seed: 5, Quota: graphsim.QuotaOff, TenantID: tenant, Apps: apps}, users)
		gate := &gatedTransport{next: sim.Transport(), onFirst: func() { sim.RevokeApp(apps[1].ClientID) },
			served: make(chan struct{}), second: make(chan struct{}), release1: make(chan struct{}), release2: make(chan struct{})}
		var lanes []batch.Lane
		for i, a := range apps {
			var rt http.RoundTripper = sim.Transport()
			if i == 1 {
				rt = gate
			}
			c, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: "http://localhost/v1.0",
				Credential: fixedToken(sim.IssueToken(a.ClientID, tenant)), Transport: rt})
			if err != nil {
				t.Fatal(err)
			}
			lanes = append(lanes, batch.Lane{App: a.ClientID, TenantID: tenant, Client: c})
		}
		sink := newCollector(t)
		done := make(chan struct{})
		var st batch.Stats
		var runErr error
		go func() {
			defer close(done)
			st, runErr = batch.Run(t.Context(), batch.Config{Lanes: lanes}, batch.Rows(rows), nil, sink)
		}()
		// The second envelope's 403s are taken in; then the first's successes arrive; only
		// then the rest of the lane's envelopes are served (all 403).
		<-gate.second
		synctest.Wait()
		close(gate.release1)
		synctest.Wait()
		close(gate.release2)
		<-done
		if runErr != nil {
			t.Fatal(runErr)
		}
		requireRevokedOnce(t, sim, sink, users, rows)
		if len(st.Dropped) != 1 || !strings.Contains(st.Dropped[0], apps[1].ClientID) {
			t.Errorf("dropped %q, want the app whose consent went", st.Dropped)
		}
	})
}
