// Package spec is the linux-build.yaml model: the BuildSpec types, decoding
// from YAML or JSON with line and column positions, normalisation (the three
// package forms become one, defaults are filled in), compatibility rules and
// the JSON Schema generated from the same types.
//
// The package is pure: it performs no I/O. Callers hand it bytes and a file
// name and get back a Spec and Diagnostics. Every diagnostic names the field
// path (securityFeatures.mac), the severity and the 1-based line and column
// in the source, so it can be printed as file:line:col or turned into a
// GitHub check-run annotation.
//
// Hostile input is bounded before it is interpreted: size, UTF-8 validity,
// nesting depth and alias expansion are checked on the parsed node tree, and
// every name that may later reach a package manager or a config file is held
// to a strict character set.
package spec
