package spec

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/invopop/jsonschema"
)

// scalarRule is what the decoder and the JSON Schema both know about a named
// string type: its allowed values or its pattern. Keeping it in one registry
// is what stops the Go validator and the schema from drifting apart.
type scalarRule struct {
	description string
	enum        []string
	pattern     *regexp.Regexp
	// what describes the pattern in words, for error messages.
	what string
	// hint is what to write instead when the pattern does not match.
	hint   string
	maxLen int
}

var scalarRules = map[reflect.Type]*scalarRule{}

// enum registers T as a string type with a closed set of values.
func enum[T ~string](description string, values ...T) []T {
	r := &scalarRule{description: description}
	for _, v := range values {
		r.enum = append(r.enum, string(v))
	}
	scalarRules[reflect.TypeFor[T]()] = r
	return values
}

// pattern registers T as a string type whose values match re.
func pattern[T ~string](description, what string, maxLen int, re *regexp.Regexp) {
	scalarRules[reflect.TypeFor[T]()] = &scalarRule{description: description, pattern: re, what: what, maxLen: maxLen}
}

// hinted sets the hint given when a value of T does not match its pattern.
func hinted[T ~string](hint string) {
	scalarRules[reflect.TypeFor[T]()].hint = hint
}

// check validates s against the rule and returns a code, a message and a
// hint ("" when valid).
func (r *scalarRule) check(s string) (Code, string, string) {
	if r.enum != nil {
		if slices.Contains(r.enum, s) {
			return "", "", ""
		}
		return CodeEnum, "unknown value " + quote(s) + "; expected one of " + strings.Join(r.enum, ", "), suggest(s, r.enum)
	}
	// Characters, not bytes, as JSON Schema's maxLength counts.
	if r.maxLen > 0 && utf8.RuneCountInString(s) > r.maxLen {
		return CodePattern, "value is longer than " + itoa(r.maxLen) + " characters", ""
	}
	if r.pattern != nil && !r.pattern.MatchString(s) {
		return CodePattern, quote(s) + " is not " + r.what, r.hint
	}
	return "", "", ""
}

func (r *scalarRule) schema() *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string", Description: r.description}
	for _, v := range r.enum {
		s.Enum = append(s.Enum, v)
	}
	if r.pattern != nil {
		s.Pattern = r.pattern.String()
	}
	if r.maxLen > 0 {
		n := uint64(r.maxLen)
		s.MaxLength = &n
	}
	return s
}

// Character rules. Anything that may reach a package manager, a unit file or
// a config file is held to these; none allows white space, quotes, shell
// metacharacters or a leading '-' (which a tool would read as an option).
var (
	// reName is a package name: letters, digits and .+-_@: , starting with
	// a letter or digit, with at most one lower-case "prefix/" (a Gentoo
	// category, an Arch repository, or a Debian package before its
	// /release). So never a URL ("://"), an absolute or relative path
	// ("/", "./", "../") or a "." / ".." segment; which bases may use the
	// "/" at all is the package-names rule's decision.
	reName = regexp.MustCompile(`^([a-z0-9][a-z0-9+_.\-]*/)?[A-Za-z0-9][A-Za-z0-9.+\-_@:]*$`)
	// reTitle is a human-readable build name.
	reTitle = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._\-]*$`)
	// reWord is a plain identifier: theme names, git refs' pieces.
	reWord = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._\-]*$`)
	// reRelease is a distribution release: bookworm, 24.04, 3.20, edge, 40.
	reRelease = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]*$`)
	// reKernelVersion is lts, latest, or a dotted version.
	reKernelVersion = regexp.MustCompile(`^(lts|latest|[0-9]+\.[0-9]+(\.[0-9]+)?)$`)
	// reKernelFlag is a kernel config assignment.
	reKernelFlag = regexp.MustCompile(`^CONFIG_[A-Z0-9_]+=(y|m|n|[0-9]+|0x[0-9a-fA-F]+|"[A-Za-z0-9 ._,:/+\-=]*")$`)
	// reModule is a kernel module name.
	reModule = regexp.MustCompile(`^[a-z0-9][a-z0-9_\-]*$`)
	// reKernelParam is a kernel command-line parameter, key or key=value,
	// of the characters [A-Za-z0-9._,:=/+@-] only: the command line is
	// pasted into grub.cfg and into a double-quoted GRUB_CMDLINE_LINUX_DEFAULT
	// that a shell reads, so no space, quote, $, `, \, ;, {, } or line break.
	reKernelParam = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*(=[A-Za-z0-9_.,:/+@\-=]*)?$`)
	// reMount is an absolute mount point or "swap": no part of it is "."
	// or ".." (/./boot is /boot, /.. is /, /var/.. is /: installers and
	// fstab would take such a point for another).
	reMount = regexp.MustCompile(`^(swap|/|(/([A-Za-z0-9_\-][A-Za-z0-9_.\-]*|\.[A-Za-z0-9_\-][A-Za-z0-9_.\-]*|\.\.[A-Za-z0-9_.\-]+))+)$`)
	// reSize is a partition size: 512M, 20G, 1.5T, 100%, rest.
	reSize = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?[KMGT](i?B)?|[0-9]{1,3}%|rest)$`)
	// reDiskSize is an absolute size: 20G, 1.5T.
	reDiskSize = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?[KMGT](i?B)?$`)
	// reSchedule is a keyword or a five-field cron expression.
	reSchedule = regexp.MustCompile(`^(hourly|daily|weekly|monthly|yearly|[0-9*/,\-]+( [0-9*/,\-A-Za-z]+){4})$`)
	// reDestination is a local path or a tool URL (sftp:host:/p, s3:...,
	// rclone:...). No name after a '/', ':' or '@' starts with '-', which
	// borg, restic and rsync would pass on to ssh as an option
	// (ssh://-oProxyCommand=…).
	reDestination = regexp.MustCompile(`^/*[A-Za-z0-9][A-Za-z0-9._+=~%,\-]*([@:/]+[A-Za-z0-9._+=~%,][A-Za-z0-9._+=~%,\-]*)*[@:/]*$`)
	// reRepoURL is an https or ssh git URL.
	reRepoURL = regexp.MustCompile(`^(https://[A-Za-z0-9.\-]+(:[0-9]+)?(/[A-Za-z0-9._~\-]+)+/?|git@[A-Za-z0-9.\-]+:[A-Za-z0-9._~\-]+(/[A-Za-z0-9._~\-]+)*)$`)
	// reGitRef is a branch, tag or commit.
	reGitRef = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/\-]*$`)
	// reHomePath is a path relative to the home directory with no "." or
	// ".." segment. RE2 has no look-ahead, so the segment forms are spelled
	// out: a plain name, a dot file, or a name starting with "..".
	reHomePath = regexp.MustCompile(`^` + homeSeg + `(/` + homeSeg + `)*$`)
	// reSysctlKey is a sysctl key such as vm.dirty_ratio.
	reSysctlKey = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_\-]+)+$`)
	// reSysctlValue is a sysctl value: numbers, words, separated by spaces.
	reSysctlValue = regexp.MustCompile(`^[A-Za-z0-9_.:/\-]+( [A-Za-z0-9_.:/\-]+)*$`)
	// reUnit is a service name to enable: nginx, docker.service, getty@tty1.
	reUnit = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@\-]*$`)
	// reScriptName is a file name for a postInstall script.
	reScriptName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*$`)
	// rePort is a port or port range with an optional protocol: 22, 8000-8100/tcp.
	rePort = regexp.MustCompile(`^` + portNum + `(-` + portNum + `)?(/(tcp|udp))?$`)
)

// portNum matches 1 to 65535 without leading zeros.
const portNum = `([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])`

const homeSeg = `([A-Za-z0-9_+@\-][A-Za-z0-9._+@\-]*|\.[A-Za-z0-9_+@\-][A-Za-z0-9._+@\-]*|\.\.[A-Za-z0-9._+@\-]+)`
