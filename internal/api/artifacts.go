package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humafiber"

	"github.com/linux-builder/linux-builder/internal/store"
)

type artifactInput struct {
	ID          int64  `path:"id" minimum:"1"`
	Name        string `path:"name" minLength:"1" maxLength:"255" doc:"The artifact's name (linux.iso, image.tar.zst, …)."`
	Range       string `header:"Range" doc:"One range of bytes (bytes=0-1023, bytes=1024-, bytes=-512)."`
	IfRange     string `header:"If-Range"`
	IfNoneMatch string `header:"If-None-Match"`
}

// downloadHeaders are the headers of an artifact's answer.
func downloadHeaders(partial bool) map[string]*huma.Param {
	h := map[string]*huma.Param{
		"ETag":                {Description: `The artifact's sha256, quoted.`, Schema: &huma.Schema{Type: "string"}},
		"Content-Length":      {Schema: &huma.Schema{Type: "integer"}},
		"Content-Disposition": {Description: "attachment; filename=…", Schema: &huma.Schema{Type: "string"}},
		"Accept-Ranges":       {Schema: &huma.Schema{Type: "string"}},
	}
	if partial {
		h["Content-Range"] = &huma.Param{Schema: &huma.Schema{Type: "string"}}
	}
	return h
}

func binary(desc string, partial bool) *huma.Response {
	return &huma.Response{Description: desc, Headers: downloadHeaders(partial),
		Content: map[string]*huma.MediaType{"application/octet-stream": {Schema: &huma.Schema{Type: "string", Format: "binary"}}}}
}

func (a *API) registerArtifacts() {
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		head := m == http.MethodHead
		id, sum := "download-artifact", "Download an artifact"
		if head {
			id, sum = "head-artifact", "An artifact's size and sha256"
		}
		op := huma.Operation{OperationID: id, Method: m, Path: Prefix + "/builds/{id}/artifacts/{name}", Tags: []string{"artifacts"},
			Summary: sum, Description: "Streamed from the artifact store: Range (one range), If-None-Match (ETag = sha256), HEAD.",
			Errors: errorsOf(http.StatusNotFound, http.StatusRequestedRangeNotSatisfiable, http.StatusUnprocessableEntity, http.StatusInternalServerError),
			Responses: map[string]*huma.Response{
				"200": binary("The artifact.", false),
				"206": binary("One range of the artifact.", true),
				"304": {Description: "Not modified: the client's copy has this sha256."},
			}}
		huma.Register(a.huma, op, func(ctx context.Context, in *artifactInput) (*huma.StreamResponse, error) {
			x, err := a.findArtifact(ctx, in.ID, func(x store.Artifact) bool { return x.Name == in.Name })
			if err != nil {
				return nil, err
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				c := humafiber.Unwrap(hctx)
				if err := a.serveArtifact(c, *x, head); err != nil {
					a.cfg.Logger.WarnContext(ctx, "api: serve artifact", "err", err)
				}
			}}, nil
		})
	}
}

// findArtifact is the artifact of visible run id that match selects.
func (a *API) findArtifact(ctx context.Context, id int64, match func(store.Artifact) bool) (*store.Artifact, error) {
	if _, err := need(ctx, store.ScopeRead); err != nil {
		return nil, err
	}
	r, err := a.VisibleRun(ctx, id)
	if err != nil {
		return nil, err
	}
	arts, err := a.cfg.Store.Artifacts(ctx, r.ID)
	if err != nil {
		return nil, a.internal(ctx, "read artifacts", err)
	}
	for i := range arts {
		if match(arts[i]) {
			return &arts[i], nil
		}
	}
	return nil, huma.Error404NotFound("build " + itoa(r.ID) + " has no such artifact")
}
