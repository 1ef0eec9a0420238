package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// TestNoBootTestOption: POST /api/v1/builds?noBootTest=true (and the
// seed's /build/start) records a run that asks for no boot test, GET shows
// it, a rebuild keeps it; a value that is not a boolean is refused (422,
// naming the parameter) and builds nothing; a read token still cannot
// build. Every /api/v1 exchange is checked against the served document.
func TestNoBootTestOption(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		e := newEnv(t, db, envOptions{})
		tok, _ := e.token("ci", store.ScopeBuild)
		reader, _ := e.token("reader", store.ScopeRead)
		ctx := context.Background()

		param := e.doc.Paths.Find("/api/v1/builds").Post.Parameters.GetByInAndName("query", "noBootTest")
		if param == nil || param.Schema == nil || !param.Schema.Value.Type.Is("boolean") || !strings.Contains(param.Description, "boot-test") {
			t.Fatalf("the OpenAPI document's noBootTest parameter: %+v", param)
		}

		get := func(id int64) (api.Build, string) {
			t.Helper()
			resp, body := e.do("GET", fmt.Sprintf("/api/v1/builds/%d", id), nil, reqOpts{token: tok})
			wantStatus(t, resp, body, http.StatusOK)
			return decode[api.Build](t, body), string(body)
		}
		stored := func(id int64) *store.Run {
			t.Helper()
			r, err := db.Run(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		resp, body := e.do("POST", "/api/v1/builds?noBootTest=true&outputs=iso", exampleYAML(t), reqOpts{token: tok, ctype: "application/yaml"})
		wantStatus(t, resp, body, http.StatusAccepted)
		asked := decode[api.BuildCreated](t, body)
		if r := stored(asked.ID); !r.NoBootTest || r.JobID == nil || !strings.Contains(r.SpecSource, "outputs: [iso]") {
			t.Fatalf("the run of ?noBootTest=true: %+v", r)
		}
		if b, raw := get(asked.ID); !b.NoBootTest || !strings.Contains(raw, `"noBootTest":true`) {
			t.Fatalf("GET of a build that asked for no boot test: %s", raw)
		}

		resp, body = e.do("POST", "/api/v1/builds", exampleJSON(t), reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusAccepted)
		plain := decode[api.BuildCreated](t, body)
		if stored(plain.ID).NoBootTest {
			t.Fatal("a build that did not ask has no_boot_test set")
		}
		if b, raw := get(plain.ID); b.NoBootTest || !strings.Contains(raw, `"noBootTest":false`) {
			t.Fatalf("GET of a boot-tested build: %s", raw)
		}
		resp, body = e.do("POST", "/api/v1/builds?noBootTest=false", exampleJSON(t), reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusAccepted)
		if stored(decode[api.BuildCreated](t, body).ID).NoBootTest {
			t.Fatal("?noBootTest=false asked for no boot test")
		}

		for _, id := range []int64{asked.ID, plain.ID} {
			resp, body = e.do("POST", fmt.Sprintf("/api/v1/builds/%d/rebuild", id), nil, reqOpts{token: tok})
			wantStatus(t, resp, body, http.StatusAccepted)
			if again := stored(decode[api.BuildCreated](t, body).ID); again.NoBootTest != (id == asked.ID) || !again.NoCache {
				t.Fatalf("the rebuild of build %d: NoBootTest %v", id, again.NoBootTest)
			}
		}

		runs := func() int {
			t.Helper()
			rs, err := db.ListRuns(ctx, store.RunFilter{})
			if err != nil {
				t.Fatal(err)
			}
			return len(rs)
		}
		before := runs()
		resp, body = e.do("POST", "/api/v1/builds?noBootTest=maybe", exampleYAML(t), reqOpts{token: tok, ctype: "application/yaml", invalid: true})
		wantStatus(t, resp, body, http.StatusUnprocessableEntity)
		if !strings.Contains(string(body), "query.noBootTest") || !strings.Contains(string(body), "invalid boolean") {
			t.Fatalf("?noBootTest=maybe: the problem does not say what is wrong: %s", body)
		}
		resp, body = e.do("POST", "/api/v1/builds?noBootTest=true", exampleYAML(t), reqOpts{token: reader, ctype: "application/yaml"})
		wantStatus(t, resp, body, http.StatusForbidden)

		resp, body = e.do("POST", "/build/start?noBootTest=maybe", exampleJSON(t), reqOpts{token: tok, raw: true})
		wantStatus(t, resp, body, http.StatusUnprocessableEntity)
		if !strings.Contains(string(body), `noBootTest: \"maybe\" is not a boolean`) {
			t.Fatalf("/build/start?noBootTest=maybe: %s", body)
		}
		resp, body = e.do("POST", "/build/start?noBootTest=true", exampleJSON(t), reqOpts{token: reader, raw: true})
		wantStatus(t, resp, body, http.StatusForbidden)
		if n := runs(); n != before {
			t.Fatalf("refused requests left %d runs", n-before)
		}

		resp, body = e.do("POST", "/build/start?noBootTest=true", exampleJSON(t), reqOpts{token: tok, raw: true})
		wantStatus(t, resp, body, http.StatusAccepted)
		seeded := decode[struct {
			BuildID int64 `json:"buildId"`
		}](t, body)
		if !stored(seeded.BuildID).NoBootTest {
			t.Fatal("/build/start?noBootTest=true: the run does not ask for no boot test")
		}
		if b, _ := get(seeded.BuildID); !b.NoBootTest {
			t.Fatal("GET of the seed route's build lacks noBootTest")
		}
	})
}
