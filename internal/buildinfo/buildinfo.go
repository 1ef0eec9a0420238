// Package buildinfo says which build a program is: the module version
// and the VCS commit the go command stamps into binaries
// (debug.ReadBuildInfo), and a build date when the build supplies one.
// Builds without VCS stamping (-buildvcs=false, as CI builds) can set
// Commit and BuildDate with -ldflags "-X"; what nobody supplied reads
// "unknown".
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Commit and BuildDate are set at link time where the go command stamps
// no VCS information:
//
//	go build -ldflags "-X github.com/linux-builder/linux-builder/internal/buildinfo.Commit=$(git rev-parse HEAD) \
//	  -X github.com/linux-builder/linux-builder/internal/buildinfo.BuildDate=$(date -u +%FT%TZ)"
var (
	Commit    string
	BuildDate string
)

// unknown is what a field nobody supplied reads.
const unknown = "unknown"

// Info is one build's identity.
type Info struct {
	// Version is the main module's version: a tag such as v1.2.0, a
	// pseudo-version, or "(devel)" for a build from a checkout.
	Version string
	// Commit is the VCS revision ("unknown" without one); Modified says
	// the working tree had uncommitted changes.
	Commit   string
	Modified bool
	// CommitDate is the commit's time (RFC 3339) and BuildDate the
	// build's, "unknown" when not supplied.
	CommitDate, BuildDate string
	// GoVersion is the toolchain that built the program.
	GoVersion string
}

// Read returns the running program's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	return FromBuildInfo(bi, ok)
}

// FromBuildInfo is Info from what debug.ReadBuildInfo returned (bi may be
// nil when !ok), with the link-time Commit and BuildDate where the go
// command stamped no revision.
func FromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	in := Info{Version: "(devel)", Commit: Commit, CommitDate: unknown, BuildDate: BuildDate, GoVersion: unknown}
	if ok && bi != nil {
		if v := bi.Main.Version; v != "" {
			in.Version = v
		}
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Commit = s.Value
			case "vcs.time":
				in.CommitDate = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if in.Commit == "" {
		in.Commit = unknown
	}
	if in.BuildDate == "" {
		in.BuildDate = unknown
	}
	return in
}

// String is the version text of program, one fact a line.
func (in Info) String(program string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", program, in.Version)
	commit := in.Commit
	if in.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(&b, "commit: %s\ncommit date: %s\nbuild date: %s\ngo: %s\n", commit, in.CommitDate, in.BuildDate, in.GoVersion)
	return b.String()
}
