// Package version is snippetd's release version: the one the binary prints
// for --version, puts in /healthz's body and logs at start-up.
package version

import "runtime/debug"

// version is set at link time by release builds, make build and the
// Dockerfile:
//
//	-ldflags "-X github.com/snippetd/snippetd/internal/version.version=v1.2.3"
var version = ""

// String is the release version: the link-time value; else the module
// version `go install github.com/snippetd/snippetd/cmd/snippetd@v1.2.3`
// records; else the VCS revision of a build from a clone (with "-dirty"
// when the tree had changes); else "dev".
func String() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev + dirty
}
