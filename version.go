package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// versionFlag is the app's --version. urfave/cli gives its own version flag the alias -v, which
// every command here uses for --verbose: an admin typing "bulkrevoke -v" meant that, so the
// version has its long name only. It is made per app, as the help flags are: urfave/cli's
// shared flag values are written by every run, and tests run the program in parallel.
func versionFlag() cli.Flag {
	return &cli.BoolFlag{Name: "version", Usage: "print the version, VCS revision and Go version", DisableDefaultText: true}
}

// helpFlag is a --help of the app's or a command's own, for the same reason.
func helpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help", DisableDefaultText: true}
}

// printVersion answers --version.
func printVersion(c *cli.Context) error {
	info, ok := debug.ReadBuildInfo()
	_, err := fmt.Fprint(c.App.Writer, versionText(info, ok))
	return err
}

// version is the App's Version: the module version, as --help shows it.
func version() string {
	info, ok := debug.ReadBuildInfo()
	return moduleVersion(info, ok)
}

// moduleVersion is the main module's version: a tag (go install ...@v1.2.0), a pseudo-version
// with "+dirty" for a modified tree (go build in a checkout, Go 1.24 and later), "devel" where
// Go says "(devel)" (a build that could not tell), or "unknown" without build information.
func moduleVersion(info *debug.BuildInfo, ok bool) string {
	switch {
	case !ok || info == nil:
		return "unknown"
	case info.Main.Version == "" || info.Main.Version == "(devel)":
		return "devel"
	}
	return info.Main.Version
}

// versionText is what --version prints: enough to tell which code a report came from when
// an admin sends one in with a question.
//
//	bulkrevoke v1.2.0
//	revision 0f1dbb91... (modified), committed 2026-11-29T19:53:18Z
//	go1.26.8 linux/amd64
func versionText(info *debug.BuildInfo, ok bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bulkrevoke %s\n", moduleVersion(info, ok))
	settings := map[string]string{}
	if ok && info != nil {
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
	}
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision %s", rev)
		switch settings["vcs.modified"] {
		case "true":
			b.WriteString(" (modified)")
		case "false":
			b.WriteString(" (clean)")
		}
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, ", committed %s", t)
		}
		b.WriteString("\n")
	} else {
		// go run, go test, -buildvcs=false, or a build outside a repository.
		b.WriteString("revision unknown\n")
	}
	goVersion := runtime.Version()
	if ok && info != nil && info.GoVersion != "" {
		goVersion = info.GoVersion
	}
	goos, goarch := settings["GOOS"], settings["GOARCH"]
	if goos == "" || goarch == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	fmt.Fprintf(&b, "%s %s/%s\n", goVersion, goos, goarch)
	return b.String()
}
