package batch_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// TestListNestedGroup: a three-level nested group of 2,500 users (one reachable twice, a cycle
// among the groups) resolves to exactly its users across pages of 999, each once.
func TestListNestedGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := graphsim.GenerateUsers(2600, 3)
		members := users[:2500]
		groups := graphsim.NestedGroup("Finance", members)
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 1, Groups: groups}, users)
		c := client(t, "http://localhost", sim.Transport())
		got := map[string]int{}
		pages := 0
		_, err := batch.List(t.Context(), batch.Config{}, c, batch.ListRequest{
			URL: "/groups/" + groups[0].ID + "/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$top=999",
		}, func(objs []map[string]any) error {
			pages++
			for _, o := range objs {
				id, _ := o["id"].(string)
				got[id]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if pages != 3 {
			t.Errorf("%d pages, want 3 of at most 999", pages)
		}
		if len(got) != len(members) {
			t.Errorf("%d distinct users, want %d", len(got), len(members))
		}
		for _, u := range members {
			if got[u.ID] != 1 {
				t.Fatalf("%s listed %d times, want once", u.UPN, got[u.ID])
			}
		}
	})
}

// TestListBadFilter: Graph's own 400 reaches the caller with its message, and nothing is
// written.
func TestListBadFilter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 1}, graphsim.GenerateUsers(10, 1))
		c := client(t, "http://localhost", sim.Transport())
		_, err := batch.List(t.Context(), batch.Config{}, c, batch.ListRequest{URL: "/users?$filter=department%20eqq%20'x'"},
			func([]map[string]any) error { t.Fatal("a page came back"); return nil })
		var le *batch.ListError
		if !errors.As(err, &le) || le.Status != 400 || le.Message == "" || !strings.Contains(err.Error(), le.Message) {
			t.Fatalf("err = %v, want a ListError carrying Graph's 400 message", err)
		}
		if gs := sim.Stats(); gs.Writes != 0 {
			t.Errorf("%d writes", gs.Writes)
		}
	})
}

// TestListThrottled: a listing throttled on every other page waits as Graph asks and ends
// with every user; 429s never end it.
func TestListThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := graphsim.GenerateUsers(3000, 5)
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 2, FractionalRetryAfter: true, Faults: graphsim.Faults{
			StepRate: 0.5, StepStatuses: []int{429, 503}}}, users)
		c := client(t, "http://localhost", sim.Transport())
		n := 0
		st, err := batch.List(t.Context(), batch.Config{MaxAttempts: 2}, c, batch.ListRequest{URL: "/users?$select=id&$top=100"},
			func(objs []map[string]any) error { n += len(objs); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if n != len(users) || st.Throttled == 0 {
			t.Errorf("listed %d of %d users with %d 429s; want all, some throttled", n, len(users), st.Throttled)
		}
		if gs := sim.Stats(); gs.EarlyRetries != 0 {
			t.Errorf("%d early retries", gs.EarlyRetries)
		}
	})
}
