package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// cannedGraph answers every $batch with the same 200 envelope of 20 revoke answers, so the
// benchmarks measure the client's own work: building the envelope, sending it through the SDK's
// middleware, decoding the answers.
type cannedGraph struct{ body []byte }

func newCannedGraph() cannedGraph {
	var b bytes.Buffer
	b.WriteString(`{"responses":[`)
	for i := range MaxBatchSize {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%d","status":200,"headers":{"Content-Type":"application/json;odata.metadata=minimal","x-ms-resource-unit":"1","x-ms-throttle-limit-percentage":"0.85"},`+
			`"body":{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean","value":true}}`, i+1)
	}
	b.WriteString(`]}`)
	return cannedGraph{b.Bytes()}
}

func (c cannedGraph) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("request-id", "6f5c1a8e-8d6b-4a8e-9d3c-0a1b2c3d4e5f")
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: req}, nil
}

func benchSteps() []Step {
	steps := make([]Step, MaxBatchSize)
	for i := range steps {
		steps[i] = Step{ID: strconv.Itoa(i + 1), Op: OpRevoke, Key: fmt.Sprintf("adele.vance%d@contoso.onmicrosoft.com", i)}
	}
	steps[7].Key = "megan_fabrikam.com#EXT#@contoso.onmicrosoft.com"
	steps[11].Key = "$svc@contoso.com"
	return steps
}

func benchClient(b *testing.B) *GraphClient {
	b.Helper()
	c, err := NewGraphClient(GraphOptions{BaseURL: "http://localhost/v1.0", Credential: &fake.TokenCredential{}, Transport: newCannedGraph()})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkBuildBatch is the envelope of 20 revokes as the SDK holds it before serialising.
func BenchmarkBuildBatch(b *testing.B) {
	c := benchClient(b)
	steps := benchSteps()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req := msgraphgocore.NewBatchRequest(c.adapter)
		for _, s := range steps {
			info, err := c.requestInfo(ctx, s)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := req.AddBatchRequestStep(*info); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSend is one whole envelope through the client: build, serialise, middleware, decode
// 20 answers into StepResponses.
func BenchmarkSend(b *testing.B) {
	c := benchClient(b)
	steps := benchSteps()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		env, err := c.Send(ctx, "bench", steps)
		if err != nil {
			b.Fatal(err)
		}
		if len(env.Steps) != MaxBatchSize || env.Steps[0].Status != 200 {
			b.Fatalf("decoded %d steps, first %+v", len(env.Steps), env.Steps[0])
		}
	}
}

// BenchmarkAnswer turns one envelope's decoded answers into final results or retries: half
// succeed, a quarter are throttled, a quarter not found.
func BenchmarkAnswer(b *testing.B) {
	cfg := Config{Clock: fixedClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	e := &engine{cfg: cfg.withDefaults(), sink: discard{}, ctrl: newController(cfg.Clock), tenants: map[string]*tenant{},
		byLine: map[int]*item{}, devices: map[string]int{}, resolved: map[string]int{},
		waitEnd: map[any]time.Time{}}
	if err := e.setup([]Lane{{Client: nil}}); err == nil {
		b.Fatal("setup accepted a lane without a client")
	}
	t := &tenant{slots: make(chan struct{}, 1)}
	l := &lane{t: t}
	resps := make([]StepResponse, MaxBatchSize)
	for i := range resps {
		sr := StepResponse{ID: strconv.Itoa(i + 1), Status: 200, Headers: map[string]string{"request-id": "r"},
			Body: map[string]any{"value": true}}
		switch i % 4 {
		case 1:
			sr.Status, sr.Headers["retry-after"] = 429, "0.05"
			sr.Body = map[string]any{"error": map[string]any{"code": "TooManyRequests", "message": "Too many requests"}}
		case 3:
			sr.Status = 404
			sr.Body = map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": "Resource does not exist"}}
		}
		resps[i] = sr
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, sr := range resps {
			it := &item{row: Row{Line: i + 2, Input: "u" + strconv.Itoa(i), Key: "u" + strconv.Itoa(i) + "@contoso.com", Kind: KindUPN},
				t: t, stage: stRevoke}
			it.res.Attempts = 1
			e.live.Add(1)
			if _, again := e.answer(l, it, sr, "crid", "rid", 0); again != (sr.Status == 429) {
				b.Fatalf("step %s: again = %v", sr.ID, again)
			} else if again {
				e.live.Done()
			}
		}
	}
}

type discard struct{}

func (discard) Write(...Result) error { return nil }
func (discard) Flush() error          { return nil }

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                                   { return c.t }
func (c fixedClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
