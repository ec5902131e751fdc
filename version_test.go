package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	setting := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name    string
		info    *debug.BuildInfo
		ok      bool
		version string
		want    string
	}{
		{
			name: "no build information", ok: false, version: "unknown",
			want: "bulkrevoke unknown\nrevision unknown\n" + runtime.Version() + " " + platform + "\n",
		},
		{
			name: "go install at a tag", ok: true, version: "v1.2.0",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/bulkrevoke/bulkrevoke", Version: "v1.2.0"},
				Settings: setting("GOOS", "windows", "GOARCH", "amd64")},
			want: "bulkrevoke v1.2.0\nrevision unknown\ngo1.26.8 windows/amd64\n",
		},
		{
			name: "go build in a modified checkout", ok: true, version: "v0.0.0-20261129195318-d9af8ae3ac17+dirty",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261129195318-d9af8ae3ac17+dirty"},
				Settings: setting("GOOS", "linux", "GOARCH", "arm64", "vcs", "git", "vcs.revision", "d9af8ae3ac17864755bda7578150d8f2a7f4416e",
					"vcs.time", "2026-11-29T19:53:18Z", "vcs.modified", "true")},
			want: "bulkrevoke v0.0.0-20261129195318-d9af8ae3ac17+dirty\n" +
				"revision d9af8ae3ac17864755bda7578150d8f2a7f4416e (modified), committed 2026-11-29T19:53:18Z\ngo1.26.8 linux/arm64\n",
		},
		{
			name: "(devel) with a clean revision", ok: true, version: "devel",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: setting("GOOS", "darwin", "GOARCH", "arm64", "vcs.revision", "d9af8ae3", "vcs.modified", "false")},
			want: "bulkrevoke devel\nrevision d9af8ae3 (clean)\ngo1.26.8 darwin/arm64\n",
		},
		{
			name: "(devel) without VCS information (go run, -buildvcs=false)", ok: true, version: "devel",
			info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			want: "bulkrevoke devel\nrevision unknown\n" + runtime.Version() + " " + platform + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := moduleVersion(tt.info, tt.ok); got != tt.version {
				t.Errorf("moduleVersion = %q, want %q", got, tt.version)
			}
			if got := versionText(tt.info, tt.ok); got != tt.want {
				t.Errorf("versionText:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestVersionFlag runs the command: --version prints the version, and -v stays the commands'
// --verbose rather than urfave/cli's default alias of --version.
func TestVersionFlag(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	want := versionText(info, ok)
	if r := runCLI(t, nil, "", "--version"); r.code != exitOK || r.stdout != want || r.stderr != "" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q; want exit 0 and %q", r.code, r.stdout, r.stderr, want)
	}
	if r := runCLI(t, nil, "", "-v"); r.code != exitFailure || strings.Contains(r.stdout, want) {
		t.Errorf("-v: exit %d, stdout %q: want a usage error, not the version", r.code, r.stdout)
	}

	dir := t.TempDir()
	input := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(input, []byte("upn\nadele@contoso.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "", "validate", "--offline", "-v", "--input", input, "--report", filepath.Join(dir, "report.csv"))
	if r.code != exitOK || strings.Contains(r.stdout, want) {
		t.Errorf("validate -v: exit %d, stdout %q, stderr %q; want a verbose dry run", r.code, r.stdout, r.stderr)
	}
}
