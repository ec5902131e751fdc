package batch

// This file is the only place that knows msgraph-sdk-go. The SDK's sharp edges it works around
// are listed in the project's Graph notes; each workaround says which one it answers.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	kjson "github.com/microsoft/kiota-serialization-json-go"
	ktext "github.com/microsoft/kiota-serialization-text-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	kauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// GraphOptions configures the Graph client.
type GraphOptions struct {
	// BaseURL is the versioned Graph root, e.g. https://graph.microsoft.com/v1.0.
	BaseURL    string
	Credential azcore.TokenCredential
	// Scopes for the token; empty means "{scheme}://{host}/.default" of BaseURL.
	Scopes []string
	// Transport carries the requests; nil means a clone of http.DefaultTransport.
	Transport http.RoundTripper
}

// GraphClient sends $batch envelopes through msgraph-sdk-go.
type GraphClient struct {
	adapter *msgraphgocore.GraphRequestAdapterBase
	users   *users.UsersRequestBuilder
	base    string
	cred    azcore.TokenCredential
	scopes  []string
}

// Claims reads the claims of the token the client sends now (azidentity caches it).
func (c *GraphClient) Claims(ctx context.Context) (Claims, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: c.scopes})
	if err != nil {
		return Claims{}, err
	}
	claims, ok := ParseClaims(tok.Token)
	if !ok {
		return Claims{}, errors.New("the access token is not a JWT")
	}
	return claims, nil
}

var registerSerializers sync.Once

// NewGraphClient builds the SDK's request adapter by hand instead of importing the root
// msgraph-sdk-go package, which would drag in some 80 request-builder packages and double build
// time. It does what the root client constructor does that matters here.
func NewGraphClient(opts GraphOptions) (*GraphClient, error) {
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("graph url %q is not an absolute URL", opts.BaseURL)
	}
	if opts.Credential == nil {
		return nil, errors.New("no credential")
	}
	registerSerializers.Do(func() {
		abstractions.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return kjson.NewJsonSerializationWriterFactory() })
		abstractions.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return ktext.NewTextSerializationWriterFactory() })
		abstractions.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return kjson.NewJsonParseNodeFactory() })
		abstractions.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return ktext.NewTextParseNodeFactory() })
		// The first concurrent batch Sends race on a lazily created global registry in
		// msgraph-sdk-go-core; creating it here, once, before any worker starts avoids that.
		msgraphgocore.GetErrorFactoryFromRegistry("bulkrevoke")
	})

	// The provider attaches a token only for hosts it is told about, so a loopback emulator
	// must be named explicitly or its requests silently go out without Authorization.
	scopes := opts.Scopes
	if len(scopes) == 0 {
		scopes = []string{base.Scheme + "://" + base.Host + "/.default"}
	}
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		opts.Credential, scopes, []string{base.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("auth provider: %w", err)
	}

	parent := opts.Transport
	if parent == nil {
		parent = http.DefaultTransport.(*http.Transport).Clone()
	}
	// An explicit middleware list: the SDK's default is built from a map, so its order changes
	// per client, and its RetryHandler both mangles retried gzip bodies and cannot see 429s
	// inside a 200 envelope. Retrying is the engine's job. No CompressionHandler either: it
	// allocates a fresh gzip compressor (about a megabyte) for every request to squeeze an
	// envelope of a few kilobytes, which was most of the client's CPU and garbage.
	clientOpts := msgraphgocore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "bulkrevoke"}
	middleware := []khttp.Middleware{
		msgraphgocore.NewGraphTelemetryHandler(&clientOpts),
		khttp.NewUserAgentHandler(),
		envelopeMeta{},
	}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(parent, middleware...),
		// Redirects are not part of the $batch contract; following one could leak the token.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	adapter, err := msgraphgocore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, clientOpts, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph adapter: %w", err)
	}
	// Set before any request builder exists: set later, batch step URLs come out absolute.
	adapter.SetBaseUrl(base.String())
	return &GraphClient{
		adapter: adapter,
		users:   users.NewUsersRequestBuilderInternal(map[string]string{"baseurl": base.String()}, adapter),
		base:    base.String(),
		cred:    opts.Credential,
		scopes:  scopes,
	}, nil
}

// Send implements Client.
func (c *GraphClient) Send(ctx context.Context, clientRequestID string, steps []Step) (*Envelope, error) {
	req := msgraphgocore.NewBatchRequest(c.adapter)
	for _, s := range steps {
		info, err := c.requestInfo(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("building the request for %q: %w", s.Key, err)
		}
		item, err := req.AddBatchRequestStep(*info)
		if err != nil {
			return nil, err
		}
		id := s.ID
		item.SetId(&id)
	}
	meta := &responseMeta{clientRequestID: clientRequestID}
	resp, err := req.Send(context.WithValue(ctx, metaKey{}, meta), c.adapter)
	if err != nil {
		return nil, classifySendError(err, meta)
	}
	env := &Envelope{RequestID: meta.requestID, Headers: meta.throttle}
	for _, item := range resp.GetResponses() {
		sr := StepResponse{Headers: map[string]string{}}
		if id := item.GetId(); id != nil {
			sr.ID = *id
		}
		if st := item.GetStatus(); st != nil {
			sr.Status = int(*st)
		}
		for k, v := range item.GetHeaders() {
			sr.Headers[strings.ToLower(k)] = v
		}
		if b := item.GetBody(); b != nil {
			sr.Body, _ = plain(map[string]any(b)).(map[string]any)
		}
		env.Steps = append(env.Steps, sr)
	}
	return env, nil
}

func (c *GraphClient) requestInfo(ctx context.Context, s Step) (*abstractions.RequestInformation, error) {
	switch s.Op {
	case OpRevoke, OpLookup, OpVerify:
	default:
		return c.byURL(s)
	}
	var info *abstractions.RequestInformation
	var err error
	item := c.users.ByUserId(s.Key)
	switch s.Op {
	case OpRevoke:
		info, err = item.RevokeSignInSessions().ToPostRequestInformation(ctx, nil)
	case OpLookup, OpVerify:
		info, err = item.ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: selectFields(s.Op)},
		})
	}
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(s.Key, "$") {
		// Graph reads /users/$x as an OData system segment; such UPNs need the key-literal form,
		// which the SDK cannot produce.
		u, err := url.Parse(c.base + UserPath(s.Key) + opSuffix(s.Op))
		if err != nil {
			return nil, err
		}
		info.SetUri(*u)
	}
	if s.Op == OpRevoke {
		// Without this the step goes out as "body":null with no Content-Type, which Graph's
		// batch format does not allow for a POST.
		info.SetStreamContentAndContentType([]byte("{}"), "application/json")
	}
	return info, nil
}

// byURL builds the steps the SDK's user request builders do not cover (PATCHes, device and
// listing pages) from a path in the same encoding (UserPath is tested against the SDK's).
func (c *GraphClient) byURL(s Step) (*abstractions.RequestInformation, error) {
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.GET
	var path string
	switch s.Op {
	case OpBlock, OpEnable, OpResetPassword:
		info.Method = abstractions.PATCH
		path = UserPath(s.Key)
	case OpDisableDevice, OpEnableDevice:
		info.Method = abstractions.PATCH
		path = "/devices/" + EscapeKey(s.Key)
	case OpOwnedDevices, OpRegisteredDevices, OpListMethods:
		path = s.URL
		if path == "" {
			path = UserPath(s.Key) + opSuffix(s.Op)
		}
	case OpDeleteMethod:
		info.Method = abstractions.DELETE
		path = s.URL
	case OpGet:
		path = s.URL
	default:
		return nil, fmt.Errorf("unknown operation %v", s.Op)
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("step url %q is not relative to the graph root", path)
	}
	u, err := url.Parse(c.base + path)
	if err != nil {
		return nil, err
	}
	info.SetUri(*u)
	for k, v := range s.Headers {
		info.Headers.Add(k, v)
	}
	switch s.Op {
	case OpBlock, OpDisableDevice:
		info.SetStreamContentAndContentType([]byte(`{"accountEnabled":false}`), "application/json")
	case OpEnable, OpEnableDevice:
		info.SetStreamContentAndContentType([]byte(`{"accountEnabled":true}`), "application/json")
	case OpResetPassword:
		// Made here, as the request is built, so that no item, result or log ever holds it.
		body, err := passwordBody()
		if err != nil {
			return nil, err
		}
		info.SetStreamContentAndContentType(body, "application/json")
	}
	return info, nil
}

// ConfirmCompromised implements RiskConfirmer: one POST outside $batch, whose errors are the
// kinds Send returns (an *EnvelopeError for Graph's error status, so that the classifier reads
// it as it reads an envelope's).
func (c *GraphClient) ConfirmCompromised(ctx context.Context, clientRequestID string, userIDs []string) error {
	u, err := url.Parse(c.base + riskPath)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string][]string{"userIds": userIDs})
	if err != nil {
		return err
	}
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.POST
	info.SetUri(*u)
	info.SetStreamContentAndContentType(body, "application/json")
	meta := &responseMeta{clientRequestID: clientRequestID}
	if err := c.adapter.SendNoContent(context.WithValue(ctx, metaKey{}, meta), info, nil); err != nil {
		return classifySendError(err, meta)
	}
	if meta.status >= 400 {
		// The SDK may take a status it has no error mapping for as an answer.
		return classifySendError(errors.New("graph refused the call"), meta)
	}
	return nil
}

// Base is the versioned root the client sends to.
func (c *GraphClient) Base() string { return c.base }

// RelativeTo is Relative for a given versioned root.
func RelativeTo(base, link string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("graph gave an unreadable next link: %w", err)
	}
	if !u.IsAbs() {
		if strings.HasPrefix(link, "/") {
			return link, nil
		}
		return "", fmt.Errorf("graph gave a next link %q that is not under %s", link, base)
	}
	if !strings.EqualFold(u.Scheme, b.Scheme) || !strings.EqualFold(u.Host, b.Host) ||
		!strings.HasPrefix(strings.ToLower(u.EscapedPath()), strings.ToLower(strings.TrimRight(b.EscapedPath(), "/"))+"/") {
		return "", fmt.Errorf("graph gave a next link to %s://%s%s, outside %s: not followed", u.Scheme, u.Host, u.EscapedPath(), base)
	}
	rel := u.EscapedPath()[len(strings.TrimRight(b.EscapedPath(), "/")):]
	if u.RawQuery != "" {
		rel += "?" + u.RawQuery
	}
	return rel, nil
}

func selectFields(op Op) []string {
	switch op {
	case OpVerify:
		return []string{"id", "userPrincipalName", "signInSessionsValidFromDateTime"}
	case OpOwnedDevices, OpRegisteredDevices:
		return []string{"id", "deviceId", "displayName", "accountEnabled", "onPremisesSyncEnabled"}
	}
	return []string{"id", "userPrincipalName", "displayName", "accountEnabled", "userType", "onPremisesSyncEnabled"}
}

// opSuffix is what follows the user path for an operation, in the SDK's own encoding.
func opSuffix(op Op) string {
	switch op {
	case OpRevoke:
		return "/revokeSignInSessions"
	case OpOwnedDevices:
		return "/ownedDevices/microsoft.graph.device?%24select=" + strings.Join(selectFields(op), ",") + "&%24top=999"
	case OpRegisteredDevices:
		return "/registeredDevices/microsoft.graph.device?%24select=" + strings.Join(selectFields(op), ",") + "&%24top=999"
	case OpListMethods:
		// No $select: each type has properties of its own, and the base type's are few.
		return "/authentication/methods"
	}
	return "?%24select=" + strings.Join(selectFields(op), ",")
}

// classifySendError turns what the SDK returned for a failed envelope into the error kinds
// the engine distinguishes.
func classifySendError(err error, meta *responseMeta) error {
	if meta.status >= 400 {
		return &EnvelopeError{
			Headers:    meta.throttle,
			Status:     meta.status,
			RetryAfter: meta.retryAfter,
			Code:       meta.code,
			Message:    meta.message,
			RequestID:  meta.requestID,
		}
	}
	if !meta.sent && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		// Nothing reached the wire: the auth provider failed to get a token.
		return &AuthError{Err: err}
	}
	return err
}

// plain turns the SDK's decoded step body (pointers to values, nested maps) into plain values.
// The SDK drops JSON numbers (they come back nil); nothing here needs one.
func plain(v any) any {
	switch x := v.(type) {
	case *string:
		if x == nil {
			return nil
		}
		return *x
	case *bool:
		if x == nil {
			return nil
		}
		return *x
	case *float64:
		if x == nil {
			return nil
		}
		return *x
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = plain(e)
		}
		return s
	}
	return v
}

type metaKey struct{}

// responseMeta collects what the SDK does not hand back from a batch Send: the envelope's
// status, request-id, Retry-After and error code.
type responseMeta struct {
	clientRequestID string
	sent            bool
	status          int
	requestID       string
	retryAfter      time.Duration
	code, message   string
	throttle        map[string]string // the envelope's x-ms-throttle-* headers, lower-cased names
}

// envelopeMeta is a middleware that stamps our client-request-id on the envelope (replacing the
// random one the telemetry handler adds) and records the response's metadata.
type envelopeMeta struct{}

func (envelopeMeta) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	meta, _ := req.Context().Value(metaKey{}).(*responseMeta)
	if meta == nil {
		return p.Next(req, i)
	}
	if meta.clientRequestID != "" {
		req.Header.Set("client-request-id", meta.clientRequestID)
	}
	meta.sent = true
	resp, err := p.Next(req, i)
	if err != nil {
		return resp, err
	}
	meta.status = resp.StatusCode
	meta.requestID = resp.Header.Get("request-id")
	for k, v := range resp.Header {
		if k = strings.ToLower(k); strings.HasPrefix(k, "x-ms-throttle-") && len(v) > 0 {
			if meta.throttle == nil {
				meta.throttle = map[string]string{}
			}
			meta.throttle[k] = v[0]
		}
	}
	meta.retryAfter = -1
	if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		meta.retryAfter = d
	}
	if resp.StatusCode >= 400 {
		// Read the error body for its code, then hand the SDK an identical copy.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil {
			meta.code, meta.message = e.Error.Code, e.Error.Message
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}
