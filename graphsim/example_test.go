package graphsim_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// A graphsim tenant served on a real loopback port, as `bulkrevoke sim`
// does, revoking a guest whose #EXT# must travel as %23EXT%23.
func Example() {
	users := []graphsim.User{{ID: "0a0a0a0a-0000-4000-8000-000000000001", UPN: "john_contoso.com#EXT#@t.onmicrosoft.com", AccountEnabled: true}}
	sim := graphsim.New(graphsim.Config{Token: "secret"}, users)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: sim}
	go srv.Serve(ln)
	defer srv.Close()

	body := `{"requests":[{"id":"1","method":"POST","url":"/users/john_contoso.com%23EXT%23@t.onmicrosoft.com/revokeSignInSessions","headers":{"Content-Type":"application/json"},"body":{}}]}`
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1.0/$batch", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()

	u, _ := sim.User("JOHN_CONTOSO.COM#EXT#@t.onmicrosoft.com")
	fmt.Println(res.StatusCode, u.UserType, len(sim.Revocations(u.ID)), sim.Stats().Writes)
	// Output: 200 Guest 1 1
}
