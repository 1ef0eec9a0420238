package githubtest

import (
	"net/http"
)

// handleRelease fakes /repos/{owner}/{repo}/releases/{release_id}: GET
// and DELETE (a draft is found by id, as GitHub does for people with push
// access).
func (s *Server) handleRelease(rq call) {
	params, repo, w, r := rq.params, rq.repo, rq.w, rq.r
	id := s.pathID(params["release_id"])
	s.mu.Lock()
	idx := -1
	for i, rel := range s.releases {
		if rel.ID == id && rel.Repo == repo {
			idx = i
		}
	}
	if idx < 0 {
		s.mu.Unlock()
		notFound(w, "https://docs.github.com/rest/releases/releases#get-a-release")
		return
	}
	switch r.Method {
	case http.MethodGet:
		out := s.releases[idx].json(s.URL)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	case http.MethodDelete:
		s.releases = append(s.releases[:idx], s.releases[idx+1:]...)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		s.mu.Unlock()
		s.t.Errorf("fake GitHub: %s %s is documented but not faked yet", r.Method, r.URL.Path)
		http.Error(w, "not implemented", http.StatusNotImplemented)
	}
}
