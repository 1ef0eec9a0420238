package spec

import "strings"

// suggest returns a "did you mean" hint for s among candidates, or "". A
// candidate matches when it differs only in case, or is within an edit
// distance of a third of its length (at least 1, at most 3).
func suggest(s string, candidates []string) string {
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return "did you mean " + quote(c) + "?"
		}
		limit := min(max(len(c)/3, 1), 3)
		if d := levenshtein(strings.ToLower(s), strings.ToLower(c)); d <= limit && d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return "did you mean " + quote(best) + "?"
}

// levenshtein is the edit distance between a and b, on bytes. Inputs are
// bounded (keys and enum values), so the quadratic cost is small; longer
// inputs are cut at 64 bytes.
func levenshtein(a, b string) int {
	a, b = a[:min(len(a), 64)], b[:min(len(b), 64)]
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
