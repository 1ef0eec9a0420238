package command

import "strings"

// commandWords are the words a comment may write after "/build": what a
// mistyped word is compared with.
var commandWords = []string{Approve, Confirm, Retry, Cancel, Help, "--pr", "--help"}

// Suggest returns the command word nearest to word (as written after
// "/build"), or "" when none is near: at most one edit away for words of
// up to four characters, two for longer ones. Ties go to the earlier word
// of commandWords.
func Suggest(word string) string {
	word = strings.ToLower(word)
	limit := 1
	if len([]rune(word)) > 4 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, w := range commandWords {
		if strings.HasPrefix(w, "-") != strings.HasPrefix(word, "-") {
			continue // a flag is a mistyped flag, a word a mistyped word
		}
		if d := distance(word, w); d < bestD {
			best, bestD = w, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b:
// the insertions, deletions, substitutions and swaps of two adjacent
// characters that turn one into the other.
func distance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance between s[:i] and t[:j].
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}
