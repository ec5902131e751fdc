package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// target is where and as whom the run talks to Graph.
type target struct {
	cloudName string
	graphURL  string // versioned base, e.g. https://graph.microsoft.com/v1.0
	scope     string
	authority cloud.Configuration
	tenant    string // as given by --tenant-id, for the confirmation prompt
}

// clouds maps --cloud to Graph's root and the sign-in authority; a token of one cloud is
// worthless in another, so they are chosen together.
var clouds = map[string]target{
	"global":    {"global", "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/.default", cloud.AzurePublic, ""},
	"usgov":     {"usgov", "https://graph.microsoft.us/v1.0", "https://graph.microsoft.us/.default", cloud.AzureGovernment, ""},
	"usgov-dod": {"usgov-dod", "https://dod-graph.microsoft.us/v1.0", "https://dod-graph.microsoft.us/.default", cloud.AzureGovernment, ""},
	"china":     {"china", "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://microsoftgraph.chinacloudapi.cn/.default", cloud.AzureChina, ""},
}

func resolveTarget(cloudName, graphURL string) (target, error) {
	t, ok := clouds[strings.ToLower(cloudName)]
	if !ok {
		return target{}, withHint(fmt.Errorf("unknown cloud %q", cloudName), "use one of global, usgov, usgov-dod, china")
	}
	if graphURL == "" {
		return t, nil
	}
	u, err := checkGraphURL(graphURL)
	if err != nil {
		return target{}, err
	}
	t.graphURL = strings.TrimRight(u.String(), "/")
	if !isLoopback(u.Hostname()) {
		t.scope = u.Scheme + "://" + u.Host + "/.default"
	}
	return t, nil
}

// checkGraphURL refuses anything but https, except plain http to a loopback emulator: the
// request carries a bearer token that must never cross a network in clear text.
func checkGraphURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, withHint(fmt.Errorf("--graph-url %q is not a plain absolute URL", s),
			"give the versioned root, e.g. https://graph.microsoft.com/v1.0")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, withHint(fmt.Errorf("--graph-url %q: only https is allowed (plain http only to a loopback address)", s),
			"access tokens must not travel unencrypted")
	}
	return u, nil
}

// checkAuthorityHost accepts a sign-in authority only over https, except plain http to a
// loopback address (the emulator, bulkrevoke sim), as for --graph-url: it receives the app's
// secret or certificate assertion.
func checkAuthorityHost(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, withHint(fmt.Errorf("--authority-host %q is not an https URL", s),
			"give the authority's root, e.g. https://login.microsoftonline.us/")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, withHint(fmt.Errorf("--authority-host %q: only https is allowed (plain http only to a loopback address)", s),
			"the app's secret or certificate assertion must not travel unencrypted")
	}
	return u, nil
}

// loopbackAuthority carries sign-in requests to a plain-http authority on a loopback address
// (checkAuthorityHost allows no other). azidentity and MSAL accept only https authorities, so
// they are given https://host/ and this transport sends exactly that host's requests over
// plain http, saying in X-Forwarded-Proto what the client asked for (as a TLS-terminating
// front does), so that the emulator's metadata names the authority MSAL expects. Requests to
// any other host go to next unchanged.
type loopbackAuthority struct {
	host string // host:port of the authority
	next policy.Transporter
}

func (l loopbackAuthority) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || !strings.EqualFold(req.URL.Host, l.host) {
		return l.next.Do(req)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme = "http"
	r.Header.Set("X-Forwarded-Proto", "https")
	return l.next.Do(r)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authModes lists --auth values for messages.
const authModes = "default, secret, certificate, managed-identity, workload-identity, azure-cli, device-code, browser, token"

// signIn is one credential to build: an app (or a person) in one tenant.
type signIn struct {
	mode, tenantID, clientID, certFile string
	secretEnv                          string // the environment variable holding the secret; default AZURE_CLIENT_SECRET
	authorityHost                      string // a custom sign-in authority (https); "" for the cloud's
}

// credential builds the azidentity credential for a sign-in. Secrets come only from the
// environment: a flag value would sit in shell history and in every process listing.
func credential(in signIn, t target, s *sys) (azcore.TokenCredential, error) {
	mode, tenantID, clientID := in.mode, in.tenantID, in.clientID
	client := azcore.ClientOptions{Cloud: t.authority}
	custom := in.authorityHost != ""
	if s.transport != nil {
		client.Transport = &http.Client{Transport: s.transport}
	}
	if custom {
		u, err := checkAuthorityHost(in.authorityHost)
		if err != nil {
			return nil, err
		}
		if u.Scheme == "http" {
			// A loopback emulator: see loopbackAuthority.
			next := client.Transport
			if next == nil {
				next = &http.Client{}
			}
			client.Transport = loopbackAuthority{host: u.Host, next: next}
			u.Scheme = "https"
		}
		client.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: strings.TrimRight(u.String(), "/") + "/"}
	}
	need := func(what, val, flag string) error {
		if val == "" {
			return withHint(fmt.Errorf("--auth %s needs %s", mode, what), "set "+flag)
		}
		return nil
	}
	switch mode {
	case "default", "":
		return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: client, TenantID: tenantID,
			DisableInstanceDiscovery: custom})
	case "secret":
		env := cmp.Or(in.secretEnv, "AZURE_CLIENT_SECRET")
		secret := s.getenv(env)
		if err := errors.Join(need("a tenant id", tenantID, "--tenant-id or AZURE_TENANT_ID"),
			need("a client id", clientID, "--client-id or AZURE_CLIENT_ID"),
			need("a client secret", secret, env+" in the environment (never on the command line)")); err != nil {
			return nil, err
		}
		return azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: client, DisableInstanceDiscovery: custom})
	case "certificate":
		if err := errors.Join(need("a tenant id", tenantID, "--tenant-id or AZURE_TENANT_ID"),
			need("a client id", clientID, "--client-id or AZURE_CLIENT_ID"),
			need("a certificate file", in.certFile, "--certificate or AZURE_CLIENT_CERTIFICATE_PATH")); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(in.certFile)
		if err != nil {
			return nil, fmt.Errorf("reading the certificate: %w", err)
		}
		var password []byte
		if p := s.getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD"); p != "" {
			password = []byte(p)
		}
		certs, key, err := azidentity.ParseCertificates(data, password)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.certFile, err)
		}
		return azidentity.NewClientCertificateCredential(tenantID, clientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions: client, DisableInstanceDiscovery: custom})
	case "managed-identity":
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: client}
		if clientID != "" {
			o.ID = azidentity.ClientID(clientID)
		}
		return azidentity.NewManagedIdentityCredential(o)
	case "workload-identity":
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: client, TenantID: tenantID,
			ClientID: clientID, DisableInstanceDiscovery: custom})
	case "azure-cli":
		return azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: tenantID})
	case "device-code":
		return azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
			ClientOptions: client, TenantID: tenantID, ClientID: clientID, DisableInstanceDiscovery: custom,
			UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
				_, err := fmt.Fprintln(s.stderr, m.Message)
				return err
			},
		})
	case "browser":
		return azidentity.NewInteractiveBrowserCredential(&azidentity.InteractiveBrowserCredentialOptions{ClientOptions: client,
			TenantID: tenantID, ClientID: clientID, DisableInstanceDiscovery: custom})
	case "token":
		tok := strings.TrimSpace(s.getenv("BULKREVOKE_ACCESS_TOKEN"))
		if tok == "" {
			return nil, withHint(errors.New("--auth token needs BULKREVOKE_ACCESS_TOKEN in the environment"),
				"export BULKREVOKE_ACCESS_TOKEN=\"$(az account get-access-token --resource-type ms-graph --query accessToken -o tsv)\"")
		}
		return staticToken(tok), nil
	}
	return nil, withHint(fmt.Errorf("unknown --auth %q", mode), "use one of "+authModes)
}

// staticToken is a bearer token obtained elsewhere. It cannot be refreshed; Graph's 401 once it
// expires stops the run, and --resume picks up from there.
type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// checkToken asks for a token once before any row is processed, so a wrong credential fails in
// seconds with azidentity's explanation instead of after the first batch. It returns the tenant
// the token was issued for, when the token says.
func checkToken(ctx context.Context, cred azcore.TokenCredential, scope string) (tenant string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return "", withHint(fmt.Errorf("cannot sign in: %w", err),
			"check --auth, --tenant-id, --client-id and that the app has the permissions the README lists, consented in the tenant")
	}
	return tokenTenant(tok.Token), nil
}

// tokenTenant reads the tid claim of a JWT access token without verifying it: it only labels
// the prompt (Graph checks the token). Anything unreadable gives "".
func tokenTenant(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		TID string `json:"tid"`
	}
	if json.Unmarshal(payload, &claims) != nil || !isGUID(claims.TID) {
		return ""
	}
	return claims.TID
}

func isGUID(s string) bool {
	kind, _, _ := batch.Classify(s)
	return kind == batch.KindObjectID
}
