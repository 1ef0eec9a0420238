// Package setup is one-click GitHub App registration through GitHub's
// App-manifest flow: GET /setup serves a form that posts a manifest built
// from app.yml (the server's public URL filled in) to GitHub, bound to
// the browser by a random, single-use, short-lived state in an HttpOnly
// cookie; GitHub creates the App and redirects to /setup/callback with a
// code, which is converted (POST /app-manifests/{code}/conversions) into
// the App's id, private key, webhook secret and OAuth client, written to
// an environment file (0600, never overwritten unless asked) with the key
// in a 0600 .pem beside it. Secrets are never logged or shown.
//
// Opening /setup takes a token (bot setup prints a link with a fresh one;
// bot serve takes SETUP_TOKEN): whoever completes the flow decides which
// App the server will act as.
package setup
