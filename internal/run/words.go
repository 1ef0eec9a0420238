package run

import (
	"fmt"
	"strings"
)

// Trigger says what started a run.
type Trigger string

// Triggers.
const (
	TriggerPush        Trigger = "push"
	TriggerPullRequest Trigger = "pull_request"
	TriggerComment     Trigger = "comment"
	TriggerAPI         Trigger = "api"
	TriggerCLI         Trigger = "cli"
	TriggerRerun       Trigger = "rerun"
	// TriggerSchedule: the spec's schedule came due and the
	// distribution had updated some of the last build's packages.
	TriggerSchedule Trigger = "schedule"
)

// ArtifactType is the kind of a run's artifact.
type ArtifactType string

// Artifact types.
const (
	ArtifactImage    ArtifactType = "docker-image"     // the image, saved as a tar
	ArtifactImageRef ArtifactType = "docker-image-ref" // the image, pushed: a reference, not a file
	ArtifactISO      ArtifactType = "iso"
	ArtifactDisk     ArtifactType = "disk" // linux.qcow2, linux.raw.zst
	ArtifactRootfs   ArtifactType = "rootfs"
	ArtifactSBOM     ArtifactType = "sbom"
	ArtifactLog      ArtifactType = "log" // build.log
	ArtifactBootLog  ArtifactType = "boot-log"
	ArtifactChecksum ArtifactType = "checksums" // SHA256SUMS
	ArtifactSpec     ArtifactType = "spec"      // the resolved spec
	ArtifactManifest ArtifactType = "packages"  // packages.txt: the image's installed packages
)

// LogLevel is the level of a run's log line.
type LogLevel string

// Log levels.
const (
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// Check-run action identifiers: the buttons on a run's check run, sent
// back in check_run requested_action deliveries.
const (
	ActionCancel  = "cancel"
	ActionRebuild = "rebuild"
)

// PullRef is the ref of pull request number's head.
func PullRef(number int) string { return fmt.Sprintf("refs/pull/%d/head", number) }

// IsPullRef reports whether ref is a pull request's ref.
func IsPullRef(ref string) bool { return strings.HasPrefix(ref, "refs/pull/") }

// ShortSHA is the first seven characters of a commit SHA, as GitHub shows
// it.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// SyncReason says why a run's check run is brought up to date.
type SyncReason string

// Sync reasons. SyncState and SyncLog are asked for; SyncFinal is what a
// sync job's last attempt passes to its syncer.
const (
	// SyncState: the run changed state (or its report did): the status
	// comment of a comment-triggered run is edited too.
	SyncState SyncReason = "state"
	// SyncLog: log progress only.
	SyncLog SyncReason = "log"
	// SyncFinal: the last attempt of a sync. The syncer records a failure
	// as the run's report error instead of returning it.
	SyncFinal SyncReason = "final"
)
