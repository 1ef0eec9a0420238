package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// handleAccessToken fakes /app/installations/{installation_id}/access_tokens.
func (s *Server) handleAccessToken(rq call) {
	params, w := rq.params, rq.w
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": "ghs_fake" + params["installation_id"], "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"permissions":          map[string]string{"contents": "write", "checks": "write", "issues": "write", "pull_requests": "read", "metadata": "read"},
		"repository_selection": "all",
	})
}

// handleContents fakes /repos/{owner}/{repo}/contents/{path}.
func (s *Server) handleContents(rq call) {
	params, repo, w, r := rq.params, rq.repo, rq.w, rq.r
	if r.Method == http.MethodPut {
		var in struct {
			Message string `json:"message"`
			Content string `json:"content"`
			Branch  string `json:"branch"`
			SHA     string `json:"sha"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: contents body: %v", err)
		}
		content, err := base64.StdEncoding.DecodeString(in.Content)
		if err != nil {
			s.t.Errorf("fake GitHub: contents are not base64: %v", err)
		}
		key := repo + "@" + in.Branch + ":" + params["path"]
		s.mu.Lock()
		_, exists := s.files[key]
		if !exists || in.SHA != "" {
			s.files[key] = content
		}
		s.nextID++
		s.mu.Unlock()
		if exists && in.SHA == "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": `Invalid request. "sha" wasn't supplied.`})
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"content": map[string]any{"name": params["path"], "path": params["path"], "sha": fmt.Sprintf("%040d", s.nextID)},
			"commit": map[string]any{"sha": fmt.Sprintf("%040d", s.nextID), "message": in.Message}})
		return
	}
	key := repo + "@" + r.URL.Query().Get("ref") + ":" + params["path"]
	s.mu.Lock()
	content, ok := s.files[key]
	s.mu.Unlock()
	if !ok {
		notFound(w, "https://docs.github.com/rest/repos/contents#get-repository-content")
		return
	}
	w.Header().Set("Content-Type", "application/vnd.github.raw")
	_, _ = w.Write(content)
}

// handlePermission fakes /repos/{owner}/{repo}/collaborators/{username}/permission.
func (s *Server) handlePermission(rq call) {
	params, repo, w := rq.params, rq.repo, rq.w
	s.mu.Lock()
	perm, ok := s.perms[repo+"|"+params["username"]]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": params["username"] + " is not a user",
			"documentation_url": "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"permission": perm, "role_name": perm,
		"user": map[string]any{"login": params["username"], "id": 1, "type": "User"}})
}

// handlePull fakes /repos/{owner}/{repo}/pulls/{pull_number}.
func (s *Server) handlePull(rq call) {
	params, repo, w := rq.params, rq.repo, rq.w
	pr, ok := s.pull(repo, params["pull_number"])
	if !ok {
		notFound(w, "https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
		return
	}
	writeJSON(w, http.StatusOK, pr.json(s.URL))
}

// handlePullFiles fakes /repos/{owner}/{repo}/pulls/{pull_number}/files.
func (s *Server) handlePullFiles(rq call) {
	params, repo, w, r := rq.params, rq.repo, rq.w, rq.r
	pr, ok := s.pull(repo, params["pull_number"])
	if !ok {
		notFound(w, "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files")
		return
	}
	page, per := s.pageParams(r)
	files := []map[string]any{}
	for i := (page - 1) * per; i < min(page*per, len(pr.Files)); i++ {
		f := pr.Files[i]
		files = append(files, map[string]any{"sha": "bbcd538c8e72b8c175046e27cc8f907076331401", "filename": f.Name, "status": f.Status,
			"additions": 1, "deletions": 0, "changes": 1, "blob_url": s.URL + "/blob", "raw_url": s.URL + "/raw", "contents_url": s.URL + "/contents"})
	}
	if page*per < len(pr.Files) {
		next := *r.URL
		q := next.Query()
		q.Set("page", fmt.Sprint(page+1))
		next.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s/api/v3%s>; rel="next"`, s.URL, next.RequestURI()))
	}
	writeJSON(w, http.StatusOK, files)
}

// handleCreateComment fakes /repos/{owner}/{repo}/issues/{issue_number}/comments.
func (s *Server) handleCreateComment(rq call) {
	params, repo, w, r := rq.params, rq.repo, rq.w, rq.r
	var in struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.t.Errorf("fake GitHub: comment body: %v", err)
	}
	n, err := strconv.Atoi(params["issue_number"])
	if err != nil {
		s.t.Errorf("fake GitHub: issue number %q: %v", params["issue_number"], err)
	}
	s.mu.Lock()
	s.nextID++
	c := Comment{ID: s.nextID, Repo: repo, Number: n, Body: in.Body}
	s.comments = append(s.comments, c)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"id": c.ID, "node_id": "IC_fake", "body": c.Body,
		"html_url": fmt.Sprintf("https://github.com/%s/issues/%d#issuecomment-%d", repo, n, c.ID),
		"user":     map[string]any{"login": "linux-builder[bot]", "type": "Bot"}, "created_at": time.Now().UTC().Format(time.RFC3339)})
}

// handleDeliveries fakes /app/hook/deliveries.
func (s *Server) handleDeliveries(rq call) {
	w, r := rq.w, rq.r
	// Cursor pagination: the cursor is the index of the next attempt.
	per := 30
	if v := r.URL.Query().Get("per_page"); v != "" {
		var err error
		if per, err = strconv.Atoi(v); err != nil {
			s.t.Errorf("fake GitHub: per_page %q: %v", v, err)
		}
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		var err error
		if start, err = strconv.Atoi(c); err != nil {
			s.t.Errorf("fake GitHub: cursor %q: %v", c, err)
		}
	}
	s.mu.Lock()
	all := append([]HookDelivery(nil), s.deliveries...)
	s.mu.Unlock()
	out := []map[string]any{}
	for i := start; i < min(start+per, len(all)); i++ {
		d := all[i]
		status := "OK"
		if d.StatusCode < 200 || d.StatusCode >= 300 {
			status = "Invalid HTTP Response: " + fmt.Sprint(d.StatusCode)
		}
		out = append(out, map[string]any{"id": d.ID, "guid": d.GUID, "delivered_at": d.DeliveredAt.UTC().Format(time.RFC3339),
			"redelivery": d.Redelivery, "duration": 0.27, "status": status, "status_code": d.StatusCode, "event": d.Event,
			"action": nil, "installation_id": 1, "repository_id": 1})
	}
	if start+per < len(all) {
		w.Header().Set("Link", fmt.Sprintf(`<%s/api/v3/app/hook/deliveries?per_page=%d&cursor=%d>; rel="next"`, s.URL, per, start+per))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRedeliver fakes /app/hook/deliveries/{delivery_id}/attempts.
func (s *Server) handleRedeliver(rq call) {
	params, w := rq.params, rq.w
	id := s.pathID(params["delivery_id"])
	s.mu.Lock()
	s.redelivered = append(s.redelivered, id)
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{})
}

// handleCreateCheckRun fakes /repos/{owner}/{repo}/check-runs.
func (s *Server) handleCreateCheckRun(rq call) {
	repo, w, r := rq.repo, rq.w, rq.r
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.t.Errorf("fake GitHub: check run body: %v", err)
	}
	s.mu.Lock()
	s.nextID++
	cr := &CheckRun{ID: s.nextID, Repo: repo, Status: "queued"}
	s.checkRuns = append(s.checkRuns, cr)
	cr.apply(in)
	out := cr.json(s.URL)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// handleUpdateCheckRun fakes /repos/{owner}/{repo}/check-runs/{check_run_id}.
func (s *Server) handleUpdateCheckRun(rq call) {
	params, repo, w, r := rq.params, rq.repo, rq.w, rq.r
	id := s.pathID(params["check_run_id"])
	s.mu.Lock()
	var cr *CheckRun
	for _, c := range s.checkRuns {
		if c.ID == id && c.Repo == repo {
			cr = c
		}
	}
	if cr == nil {
		s.mu.Unlock()
		notFound(w, "https://docs.github.com/rest/checks/runs#update-a-check-run")
		return
	}
	if r.Method == http.MethodPatch {
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: check run body: %v", err)
		}
		cr.apply(in)
	}
	out := cr.json(s.URL)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handleListCheckRuns fakes /repos/{owner}/{repo}/commits/{ref}/check-runs.
func (s *Server) handleListCheckRuns(rq call) {
	params, repo, w, r := rq.params, rq.repo, rq.w, rq.r
	name := r.URL.Query().Get("check_name")
	s.mu.Lock()
	list := []map[string]any{}
	for _, c := range s.checkRuns {
		if c.Repo == repo && c.HeadSHA == params["ref"] && (name == "" || c.Name == name) {
			list = append(list, c.json(s.URL))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(list), "check_runs": list})
}

// handleReact fakes /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions.
func (s *Server) handleReact(rq call) {
	params, w, r := rq.params, rq.w, rq.r
	var in struct {
		Content string `json:"content"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.t.Errorf("fake GitHub: reaction body: %v", err)
	}
	id := s.pathID(params["comment_id"])
	s.mu.Lock()
	code := http.StatusCreated
	for _, x := range s.reactions {
		if x.CommentID == id && x.Content == in.Content {
			code = http.StatusOK // already there
		}
	}
	if code == http.StatusCreated {
		s.reactions = append(s.reactions, Reaction{CommentID: id, Content: in.Content})
	}
	s.nextID++
	rid := s.nextID
	s.mu.Unlock()
	writeJSON(w, code, map[string]any{"id": rid, "node_id": "REA_fake", "content": in.Content,
		"user": map[string]any{"login": "linux-builder[bot]", "type": "Bot"}, "created_at": time.Now().UTC().Format(time.RFC3339)})
}

// handleEditComment fakes /repos/{owner}/{repo}/issues/comments/{comment_id}.
func (s *Server) handleEditComment(rq call) {
	params, repo, w, r := rq.params, rq.repo, rq.w, rq.r
	id := s.pathID(params["comment_id"])
	var in struct {
		Body string `json:"body"`
	}
	if r.Method == http.MethodPatch {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: comment body: %v", err)
		}
	}
	s.mu.Lock()
	var found *Comment
	for i := range s.comments {
		if s.comments[i].ID == id && s.comments[i].Repo == repo {
			found = &s.comments[i]
		}
	}
	if found != nil && r.Method == http.MethodPatch {
		found.Body = in.Body
		found.Edits++
	}
	var out map[string]any
	if found != nil {
		out = map[string]any{"id": found.ID, "node_id": "IC_fake", "body": found.Body,
			"html_url": fmt.Sprintf("https://github.com/%s/issues/%d#issuecomment-%d", repo, found.Number, found.ID),
			"user":     map[string]any{"login": "linux-builder[bot]", "type": "Bot"}}
	}
	s.mu.Unlock()
	if found == nil {
		notFound(w, "https://docs.github.com/rest/issues/comments#update-an-issue-comment")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCommit fakes /repos/{owner}/{repo}/commits/{ref}.
func (s *Server) handleCommit(rq call) {
	params, repo, w := rq.params, rq.repo, rq.w
	s.mu.Lock()
	sha, ok := s.branches[repo+":"+params["ref"]]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "No commit found for SHA: " + params["ref"]})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha": sha, "node_id": "C_fake", "commit": map[string]any{"message": "head"},
		"html_url": fmt.Sprintf("https://github.com/%s/commit/%s", repo, sha)})
}

// handleCreateRef fakes /repos/{owner}/{repo}/git/refs.
func (s *Server) handleCreateRef(rq call) {
	repo, w, r := rq.repo, rq.w, rq.r
	var in struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.t.Errorf("fake GitHub: ref body: %v", err)
	}
	branch := strings.TrimPrefix(in.Ref, "refs/heads/")
	s.mu.Lock()
	if s.branches == nil {
		s.branches = map[string]string{}
	}
	_, exists := s.branches[repo+":"+branch]
	if !exists {
		s.branches[repo+":"+branch] = in.SHA
	}
	s.mu.Unlock()
	if exists {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Reference already exists"})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"ref": in.Ref, "node_id": "REF_fake", "url": s.URL + "/ref",
		"object": map[string]any{"type": "commit", "sha": in.SHA, "url": s.URL + "/commit"}})
}

// handlePulls fakes /repos/{owner}/{repo}/pulls.
func (s *Server) handlePulls(rq call) {
	repo, w, r := rq.repo, rq.w, rq.r
	if r.Method == http.MethodGet {
		head := r.URL.Query().Get("head")
		s.mu.Lock()
		list := []map[string]any{}
		for _, pr := range s.createdPRs {
			if pr.Repo == repo && strings.HasSuffix(head, ":"+pr.Head) {
				list = append(list, map[string]any{"number": pr.Number, "state": "open", "title": pr.Title,
					"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", repo, pr.Number)})
			}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, list)
		return
	}
	var in struct {
		Title, Head, Base, Body string
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.t.Errorf("fake GitHub: pull body: %v", err)
	}
	s.mu.Lock()
	files := map[string][]byte{}
	for k, v := range s.files {
		if strings.HasPrefix(k, repo+"@"+in.Head+":") {
			files[strings.TrimPrefix(k, repo+"@"+in.Head+":")] = v
		}
	}
	pr := CreatedPR{Repo: repo, Title: in.Title, Head: in.Head, Base: in.Base, Body: in.Body, Number: 100 + len(s.createdPRs), Files: files}
	s.createdPRs = append(s.createdPRs, pr)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"number": pr.Number, "state": "open", "title": pr.Title,
		"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", repo, pr.Number)})
}

// handleReleaseByTag fakes /repos/{owner}/{repo}/releases/tags/{tag}.
func (s *Server) handleReleaseByTag(rq call) {
	params, repo, w := rq.params, rq.repo, rq.w
	s.mu.Lock()
	var found *Release
	for _, rel := range s.releases {
		if tag, _ := url.PathUnescape(params["tag"]); rel.Repo == repo && rel.Tag == tag && !rel.Draft {
			found = rel
		}
	}
	var out map[string]any
	if found != nil {
		out = found.json(s.URL)
	}
	s.mu.Unlock()
	if found == nil {
		notFound(w, "https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleReleases fakes /repos/{owner}/{repo}/releases.
func (s *Server) handleReleases(rq call) {
	repo, w, r := rq.repo, rq.w, rq.r
	if r.Method == http.MethodGet {
		page, per := s.pageParams(r)
		s.mu.Lock()
		var list []map[string]any
		for _, rel := range s.releases {
			if rel.Repo == repo {
				list = append(list, rel.json(s.URL))
			}
		}
		s.mu.Unlock()
		from, to := min((page-1)*per, len(list)), min(page*per, len(list))
		if to < len(list) {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?per_page=%d&page=%d>; rel="next"`, s.URL, r.URL.Path, per, page+1))
		}
		writeJSON(w, http.StatusOK, append([]map[string]any{}, list[from:to]...))
		return
	}
	var in struct {
		Tag        string `json:"tag_name"`
		Target     string `json:"target_commitish"`
		Name       string `json:"name"`
		Body       string `json:"body"`
		Prerelease bool   `json:"prerelease"`
		Draft      bool   `json:"draft"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.t.Errorf("fake GitHub: release body: %v", err)
	}
	s.mu.Lock()
	for _, rel := range s.releases {
		if rel.Repo == repo && rel.Tag == in.Tag && !rel.Draft && !in.Draft {
			s.mu.Unlock()
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
				"errors": []map[string]string{{"resource": "Release", "code": "already_exists", "field": "tag_name"}}})
			return
		}
	}
	s.nextID++
	rel := &Release{ID: s.nextID, Repo: repo, Tag: in.Tag, Target: in.Target, Name: in.Name, Body: in.Body, Prerelease: in.Prerelease, Draft: in.Draft}
	s.releases = append(s.releases, rel)
	out := rel.json(s.URL)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// handleReleaseAssets fakes /repos/{owner}/{repo}/releases/{release_id}/assets.
func (s *Server) handleReleaseAssets(rq call) {
	params, repo, w, r := rq.params, rq.repo, rq.w, rq.r
	id := s.pathID(params["release_id"])
	s.mu.Lock()
	var rel *Release
	for _, x := range s.releases {
		if x.ID == id && x.Repo == repo {
			rel = x
		}
	}
	s.mu.Unlock()
	if rel == nil {
		notFound(w, "https://docs.github.com/rest/releases/assets")
		return
	}
	if r.Method == http.MethodGet {
		s.mu.Lock()
		list := []map[string]any{}
		for _, a := range rel.Assets {
			list = append(list, a.json(s.URL, rel))
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, list)
		return
	}
	s.upload(w, r, rel)
}

// handleDeleteReleaseAsset fakes /repos/{owner}/{repo}/releases/assets/{asset_id}.
func (s *Server) handleDeleteReleaseAsset(rq call) {
	params, repo, w := rq.params, rq.repo, rq.w
	id := s.pathID(params["asset_id"])
	s.mu.Lock()
	deleted := false
	for _, rel := range s.releases {
		for i, a := range rel.Assets {
			if a.ID == id && rel.Repo == repo {
				rel.Assets = append(rel.Assets[:i], rel.Assets[i+1:]...)
				deleted = true
				break
			}
		}
	}
	s.mu.Unlock()
	if !deleted {
		notFound(w, "https://docs.github.com/rest/releases/assets#delete-a-release-asset")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
