// Package linuxbuilder holds the files embedded into the bot: the templates
// under templates/ and the SQL migrations under migrations/. They live at
// the repository root, where go:embed can reach them, and are read through
// this package by internal/render and internal/store.
package linuxbuilder

import "embed"

// Templates is the templates/ folder.
//
//go:embed templates
var Templates embed.FS

// Migrations is the migrations/ folder: postgres/ and sqlite/ hold the same
// schema in each dialect.
//
//go:embed migrations
var Migrations embed.FS

// Example is examples/minimal-debian.yaml: the example spec the AI's
// system prompt shows.
//
//go:embed examples/minimal-debian.yaml
var Example []byte

// AppManifest is app.yml: the GitHub App's name, permissions and events,
// from which /setup builds the manifest it hands to GitHub.
//
//go:embed app.yml
var AppManifest []byte
