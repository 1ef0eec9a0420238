// Package render turns a validated spec into a Docker build context: a
// Dockerfile for the spec's distribution, the configuration files it copies
// into the image, and the scripts that enable services and run the user's
// postInstall steps.
//
// Every decision (which packages, which service names, which paths) is
// made in Go from the distribution table in distro.go and the package map
// in templates/packages.yaml; the templates under templates/ only lay the
// decisions out. Output is deterministic: the same spec and options give
// byte-identical files and the same Context.Hash, which later stages use as
// a cache key.
//
// Nothing from a spec reaches a shell unquoted: names were held to strict
// character sets by internal/spec, and the templates still quote every
// value with sh (POSIX single quotes) as a second line of defence.
// postInstall scripts are data: they are written as files and executed as
// files.
package render
