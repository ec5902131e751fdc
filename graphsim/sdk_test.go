package graphsim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// staticToken hands out the test token, but only to allowed hosts, as the
// azure auth provider does.
type staticToken struct {
	hosts *absauth.AllowedHostsValidator
}

func (p staticToken) GetAuthorizationToken(_ context.Context, u *url.URL, _ map[string]any) (string, error) {
	if !p.hosts.IsUrlHostValid(u) {
		return "", nil
	}
	return testToken, nil
}

func (p staticToken) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return p.hosts }

var registerSerializers sync.Once

// sdkAdapter builds the SDK client the way graph-notes.md prescribes:
// explicit middleware (no SDK retries, compression innermost), JSON and
// text serializers registered, 127.0.0.1 allowed for the token.
func sdkAdapter(t *testing.T, base string) *msgraphgocore.GraphRequestAdapterBase {
	t.Helper()
	registerSerializers.Do(func() {
		abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
		abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
		abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
		abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
		msgraphgocore.GetErrorFactoryFromRegistry("x") // creates the registry before any concurrent use
	})
	hosts, err := absauth.NewAllowedHostsValidatorErrorCheck([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraphgocore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "graphsim-test"}
	client := msgraphgocore.GetDefaultClient(&opts,
		msgraphgocore.NewGraphTelemetryHandler(&opts),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
		khttp.NewHeadersInspectionHandler(),
		khttp.NewCompressionHandler(),
	)
	adapter, err := msgraphgocore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		absauth.NewBaseBearerTokenAuthenticationProvider(staticToken{hosts}), opts,
		absser.DefaultParseNodeFactoryInstance, absser.DefaultSerializationWriterFactoryInstance, client)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(base + "/v1.0")
	return adapter
}

type sdkStep struct {
	id     string
	upn    string // addressed through ByUserId
	url    string // or a hand-made step URL (the $-leading case)
	get    bool   // GET with $select instead of revoke
	status int32
	code   string // error.code in the step body
}

// sdkBatch sends steps through msgraphgocore.NewBatchRequest and returns
// the parsed items by id.
func sdkBatch(t *testing.T, adapter *msgraphgocore.GraphRequestAdapterBase, base string, steps []sdkStep) (map[string]msgraphgocore.BatchItem, error) {
	t.Helper()
	ctx := context.Background()
	ub := users.NewUsersRequestBuilderInternal(map[string]string{"baseurl": base + "/v1.0"}, adapter)
	b := msgraphgocore.NewBatchRequest(adapter)
	for _, st := range steps {
		var ri *abs.RequestInformation
		var err error
		if st.get {
			ri, err = ub.ByUserId(st.upn).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "userPrincipalName", "signInSessionsValidFromDateTime"}},
			})
		} else {
			ri, err = ub.ByUserId(st.upn).RevokeSignInSessions().ToPostRequestInformation(ctx, nil)
			ri.Headers.TryAdd("Content-Type", "application/json")
			ri.Content = []byte("{}")
		}
		if err != nil {
			t.Fatal(err)
		}
		item, err := b.AddBatchRequestStep(*ri)
		if err != nil {
			t.Fatal(err)
		}
		id := st.id
		item.SetId(&id)
		if st.url != "" {
			u := st.url
			item.SetUrl(&u)
		}
	}
	res, err := b.Send(ctx, adapter)
	if err != nil {
		return nil, err
	}
	out := map[string]msgraphgocore.BatchItem{}
	for _, it := range res.GetResponses() {
		out[*it.GetId()] = it
	}
	return out, nil
}

// sdkString digs a string out of the SDK's map-of-pointers step body.
func sdkString(body map[string]any, path ...string) string {
	var cur any = body
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	if s, ok := cur.(*string); ok && s != nil {
		return *s
	}
	return ""
}

func sdkHeader(h map[string]string, name string) string { return headerValue(h, name) }

func TestSDKRoundTrip(t *testing.T) {
	clock := NewManualClock(t0)
	s := New(Config{Token: testToken, Clock: clock, FractionalRetryAfter: true, Seed: 21, ThrottleHeaders: HeadersSteps}, append(trapUsers(), GenerateUsers(40, 5)...))
	var gzipped atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Encoding") == "gzip" {
			gzipped.Add(1)
		}
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	base := ts.URL
	adapter := sdkAdapter(t, base)

	steps := []sdkStep{
		{id: "member", upn: "adele@x.com", status: 200},
		{id: "guest", upn: "john_contoso.com#EXT#@t.onmicrosoft.com", status: 200},
		{id: "dollar", upn: "$adele@x.com", url: "/users('$adele@x.com')/revokeSignInSessions", status: 200},
		{id: "apostrophe", upn: "o'brien@x.com", status: 200},
		{id: "plus", upn: "a+b@x.com", status: 200},
		{id: "percent", upn: "100%@x.com", status: 200},
		{id: "protected", upn: "admin@x.com", status: 403, code: "Authorization_RequestDenied"},
		{id: "missing", upn: "ghost@x.com", status: 404, code: "Request_ResourceNotFound"},
		{id: "dollar-plain", upn: "$adele@x.com", status: 400, code: "Request_BadRequest"},
		{id: "verify", upn: "stuck@x.com", get: true, status: 200},
	}
	got, err := sdkBatch(t, adapter, base, steps)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for _, st := range steps {
		it, ok := got[st.id]
		if !ok {
			t.Errorf("%s: no response", st.id)
			continue
		}
		if *it.GetStatus() != st.status {
			t.Errorf("%s: status %d, want %d (%v)", st.id, *it.GetStatus(), st.status, it.GetBody())
		}
		if st.code != "" && sdkString(it.GetBody(), "error", "code") != st.code {
			t.Errorf("%s: code %q, want %q", st.id, sdkString(it.GetBody(), "error", "code"), st.code)
		}
	}
	if v, ok := got["member"].GetBody()["value"].(*bool); !ok || !*v {
		t.Errorf("revoke body value = %#v, want true", got["member"].GetBody()["value"])
	}
	if upn := sdkString(got["verify"].GetBody(), "userPrincipalName"); upn != "stuck@x.com" {
		t.Errorf("verify read userPrincipalName %q", upn)
	}
	if n := s.Stats().Revocations; n != 6 {
		t.Errorf("revocations = %d, want 6", n)
	}
	if gzipped.Load() != 1 {
		t.Errorf("%d gzip-encoded envelopes, want the SDK's one compressed", gzipped.Load())
	}

	// Fill the write quota, then every revoke step comes back 429 with its
	// own Retry-After and throttle headers, and the SDK still parses it.
	burst(t, base, GenerateUsers(40, 5), 3000)
	var throttled []sdkStep
	for _, u := range GenerateUsers(40, 5)[:20] {
		throttled = append(throttled, sdkStep{id: u.ID, upn: u.UPN, status: 429})
	}
	got, err = sdkBatch(t, adapter, base, throttled)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for _, st := range throttled {
		it := got[st.id]
		if it == nil || *it.GetStatus() != 429 {
			t.Fatalf("%s: %v, want 429", st.id, it)
		}
		h := it.GetHeaders()
		if sdkHeader(h, "retry-after") == "" || sdkHeader(h, "x-ms-throttle-scope") == "" ||
			sdkString(it.GetBody(), "error", "code") != "TooManyRequests" {
			t.Errorf("%s: headers %v body %v, want Retry-After, scope and TooManyRequests", st.id, h, it.GetBody())
		}
	}

	// An envelope-level 429 surfaces as an ApiError carrying Retry-After.
	s.SetFaults(Faults{RetryAfter: 2 * time.Second, Schedule: []Scheduled{{Kind: EnvelopeFault, Status: 429, Nth: s.Stats().Envelopes + 1}}})
	_, err = sdkBatch(t, adapter, base, steps[:1])
	var apiErr *abs.ApiError
	if !errors.As(err, &apiErr) || apiErr.ResponseStatusCode != 429 {
		t.Fatalf("envelope 429: error %v, want an ApiError with status 429", err)
	}
	if ra := apiErr.ResponseHeaders.Get("Retry-After"); len(ra) != 1 || ra[0] != "2" {
		t.Errorf("envelope Retry-After = %v, want [2]", ra)
	}
	if st := s.Stats(); st.EarlyRetries != 0 || !strings.HasPrefix(sdkHeader(got[throttled[0].id].GetHeaders(), "x-ms-throttle-scope"), "Tenant_Application/Write/") {
		t.Errorf("early retries %d, scope %q", st.EarlyRetries, sdkHeader(got[throttled[0].id].GetHeaders(), "x-ms-throttle-scope"))
	}
}
