// Package api is the REST API of Linux Builder: /api/v1 (described by an
// OpenAPI 3.1 document generated from the Go types with huma, served at
// /api/v1/openapi.json with a docs page at /api/v1/docs) and the seed
// project's compatibility routes (/health, /build/...), on the same Fiber
// app as the webhook.
//
// Every request but /health and the API's description carries an API
// token (Authorization: Bearer lbt_…; see tokens.go); its scope (read <
// build < admin) says what it may do, and a per-token rate limit bounds
// how often. Every read of a run is authorised: a read or build token
// sees only the runs it started, an admin token every run. An unknown
// run and a run the token may not see get the same 404.
//
// Artifacts are streamed from the artifact store with ranged reads
// (Range, HEAD, ETag = the sha256), never held whole in memory.
package api
