// Package artifacts is the artifact store: where the bytes of a run's
// artifacts (image.tar.zst, linux.iso, build.log, SHA256SUMS) live, so that
// any worker on any machine can read what another built. It wraps
// gocloud.dev/blob behind one small type, [Store], opened from one URL
// (ARTIFACT_STORE):
//
//	file:///abs/dir                       one machine (default: <DATA_DIR>/artifacts)
//	s3://bucket?endpoint=URL&region=R&use_path_style=true
//	                                      S3 or an S3-compatible server (MinIO, Ceph RGW, …);
//	                                      gocloud's parameter names; credentials from the
//	                                      standard AWS_* variables, never from the URL
//
// # Contract
//
// Who writes: the worker that builds a run uploads each artifact once it is
// produced ([Store.Put] or [Store.PutFile]) and records the returned
// [Object] (key, size, sha256) in the artifact's row — the row holds the key,
// never a host path. Who reads: whoever publishes the run (the release job,
// on any worker), a cache hit on any worker, and later HTTP downloads
// ([Store.Get], [Store.GetRange] for Range requests), all streamed.
//
// Integrity: Put computes the size and sha256 of the bytes as they stream
// past and returns them; the caller records them. A Put that fails for any
// reason — the reader's error, a cancelled context, a dropped connection, a
// refused credential — leaves no visible object under its key (the file
// store writes a temporary file and renames it on success; S3 puts small
// objects in one request and aborts a failed multipart upload), so a caller
// that records only after Put returned nil never records a half-written
// artifact. [Verify] checks bytes read back against the recorded object.
//
// Retries: Put is idempotent — a second Put of the same key replaces the
// object atomically — so a failed Put is retried by calling it again with the
// same bytes (the pipeline re-runs its step or River retries the job; the
// S3 client also retries single requests itself). [Retryable] tells errors
// that a retry may cure (network, server) from those it will not (bad key,
// refused credentials, missing bucket). Errors name the operation, the key
// and the store (its URL without any secret), never a credential.
//
// Memory: uploads and downloads are streamed; an S3 upload holds at most
// PartSize × (Concurrency+1) bytes of parts (8 MiB × 3 by default), whatever
// the object's size. BenchmarkTransfer measures peak RSS and throughput.
//
// Keys: slash-separated segments of [A-Za-z0-9._+=@-], none empty, "." or
// "..", none starting with "." (room for temporary files), at most 512 bytes
// ([ValidKey]); a hostile run or artifact name cannot leave its prefix. The
// suggested layout is runs/<run-id>/<artifact-name> ([RunKey]); run ids are
// unique across installations, so tenants never share a key.
package artifacts
