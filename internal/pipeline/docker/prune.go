package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// The engine's disk is shared by every build: the shared system images,
// the images of kept runs, the layer cache (the untagged parents the
// classic builder leaves: every RUN step's result) and the containers the
// ISO step exports from. Prune keeps the bot's share within a budget.
//
// What is the bot's is decided by tags and ancestry, not by labels alone:
// the engine copies a parent's labels into every image built on it, so a
// person's `FROM linux-builder:42` carries the run's labels too.
//
//   - A tagged image is the bot's only if it carries a label of the bot
//     and every one of its tags is in the bot's repositories
//     (PruneOptions.Repos): a run's image tagged <repo>:<run id> (or
//     <push repo>:run-<run id>) for the run its run key names, or a shared
//     system image (no run key) in any of them. Any other tag — a
//     person's, or a run's tag on an image of another run — makes the
//     image not the bot's.
//   - An untagged image is the bot's if it descends from one of the bot's
//     (the layer cache of a spec's build), is a superseded system image
//     (its tag moved to a newer build) or descends from one, or lies under
//     one of the bot's images (the layers of its own build) — and in every
//     case only if it is not an ancestor of an image that is not the
//     bot's.
//
// Base images (`bot base import`, or any other image the bot did not tag)
// are never touched, and an image with a child is never removed (only
// leaves go, with their untagged parents that have no other child).
//
// Runs: an image or export container carrying a run key
// (pipeline.LabelRunKey) is removed only if the caller's database knows
// that run to have ended (PruneOptions.Ended). Several databases may share
// one engine (deployments, `bot build` with its SQLite); another's run
// keys are never this one's to remove.

// LabelExport marks the containers the ISO step (and the manifest reader)
// create from an image to read its file system.
const LabelExport = "io.linux-builder.export"

// labelPrefix starts every label of the bot.
const labelPrefix = "io.linux-builder."

// PruneOptions say what Prune may remove.
type PruneOptions struct {
	// Budget is how many bytes the bot's images may take; beyond it the
	// oldest go first. Negative: no budget (only leftovers go).
	Budget int64
	// Repos are the repositories the bot tags images in: the pipeline's
	// image repository (<repo>:<run id>), the shared system images'
	// (render.SystemImageRepo) and the push repository if any
	// (<repo>:run-<run id>). A tagged image is the bot's only if every
	// tag is in one of them; none: no tagged image is the bot's.
	Repos []string
	// Ended answers which of keys (pipeline.RunKey, as found on the
	// engine's images and export containers) are of runs the caller's
	// database knows to have ended: only those runs' images and
	// containers may go. A key it leaves out (another database's run, one
	// not ended, one unknown) is left alone with every image it descends
	// from. Nil: no run is known to have ended.
	Ended func(ctx context.Context, keys []string) (map[string]bool, error)
	// Busy says a run may be building now (on this engine or another):
	// the tagged shared system images stay, since a run about to start
	// its build may use one.
	Busy bool
	// MinAge protects what is younger: a build of another process (or of
	// a run not yet recorded) commits untagged layers as it goes. Default
	// 15 minutes; a negative value protects nothing.
	MinAge time.Duration
	// MaxRemovals bounds the images and containers removed in one call.
	// Default 500.
	MaxRemovals int
	// DryRun removes nothing and reports what would go.
	DryRun bool
	// Scope, when set ("key=value"), restricts Prune to images and
	// containers carrying that label too (and the untagged images
	// descending from them): tests sharing an engine touch only their own.
	Scope string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// PruneResult is what Prune freed (or, in a dry run, would free).
type PruneResult struct {
	Containers     int
	ContainerBytes int64
	Images         int
	ImageBytes     int64
	// Before and After are the bytes of the bot's images around the
	// prune (After is an estimate in a dry run).
	Before, After int64
}

// imageNode is one image of the engine with its place in the layer tree.
type imageNode struct {
	image.Summary
	own      int64 // bytes of its own layer: its size less its parent's
	children int
	bot      bool
	scoped   bool
	stale    bool // descends from (or is) a superseded system image
	pinned   bool // an image of a run not known ended, or an ancestor of one
	// guarded: an ancestor of an image that is not the bot's.
	guarded bool
}

func (n *imageNode) created() time.Time { return time.Unix(n.Created, 0) }

// Prune removes the bot's leftover export containers, the images made
// from a superseded shared system image, then the bot's oldest images (by
// creation) until what it has left fits opt.Budget. An image is removed
// with its untagged parents that have no other child; an image with a
// child, a container, or the key of a run not known to have ended is
// never removed. It
// stops at opt.MaxRemovals and returns what it freed with the errors of
// the removals that failed (the next call tries them again).
func (e *Engine) Prune(ctx context.Context, opt PruneOptions) (PruneResult, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MinAge == 0 {
		opt.MinAge = 15 * time.Minute
	}
	if opt.MaxRemovals <= 0 {
		opt.MaxRemovals = 500
	}
	var res PruneResult
	var errs []error
	ended, err := e.endedRuns(ctx, opt)
	if err != nil {
		return res, err
	}
	used, err := e.pruneContainers(ctx, opt, ended, &res, &errs)
	if err != nil {
		return res, err
	}
	removed := res.Containers
	gone := map[string]bool{} // images removed in a dry run
	repos := map[string]bool{}
	for _, r := range opt.Repos {
		if r = familiar(strings.TrimSpace(r)); r != "" {
			repos[r] = true
		}
	}
	for round := 0; removed < opt.MaxRemovals; round++ {
		nodes, err := e.imageTree(ctx, opt, repos, ended, used, gone)
		if err != nil {
			return res, errors.Join(append(errs, err)...)
		}
		total := botBytes(nodes)
		if round == 0 {
			res.Before = total
		}
		res.After = total
		cands := candidates(nodes, opt)
		if len(cands) == 0 {
			break
		}
		progress := false
		for _, n := range cands {
			if removed >= opt.MaxRemovals {
				break
			}
			if !n.stale && (opt.Budget < 0 || res.After <= opt.Budget) {
				break // candidates are sorted: stale ones first, then oldest
			}
			freed, freedBot, count, err := e.removeImage(ctx, n, nodes, opt.DryRun, gone)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			progress = progress || count > 0
			removed += count
			res.Images += count
			res.ImageBytes += freed
			res.After -= freedBot
		}
		if !progress {
			break
		}
		if !anyStale(nodes) && (opt.Budget < 0 || res.After <= opt.Budget) {
			break
		}
	}
	return res, errors.Join(errs...)
}

// maxRunKeys bounds the run keys one Prune asks opt.Ended about; the
// keys beyond it count as not ended (the next pass asks again).
const maxRunKeys = 100_000

// endedRuns asks opt.Ended which run keys on the engine's images and
// containers are of runs known to have ended.
func (e *Engine) endedRuns(ctx context.Context, opt PruneOptions) (map[string]bool, error) {
	if opt.Ended == nil {
		return map[string]bool{}, nil
	}
	seen := map[string]bool{}
	var keys []string
	add := func(labels map[string]string) {
		if k := labels[pipeline.LabelRunKey]; k != "" && !seen[k] && len(keys) < maxRunKeys {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	cs, err := e.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", pipeline.LabelRunKey))})
	if err != nil {
		return nil, fmt.Errorf("prune: list containers: %w", err)
	}
	for _, c := range cs {
		add(c.Labels)
	}
	ims, err := e.c.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", pipeline.LabelRunKey))})
	if err != nil {
		return nil, fmt.Errorf("prune: list images: %w", err)
	}
	for _, im := range ims {
		add(im.Labels)
	}
	if len(keys) == 0 {
		return map[string]bool{}, nil
	}
	sort.Strings(keys)
	ended, err := opt.Ended(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("prune: which runs have ended: %w", err)
	}
	if ended == nil {
		ended = map[string]bool{}
	}
	return ended, nil
}

// pruneContainers removes the bot's export containers of runs known to
// have ended that are older than opt.MinAge, and returns the images every
// other container uses.
func (e *Engine) pruneContainers(ctx context.Context, opt PruneOptions, ended map[string]bool, res *PruneResult, errs *[]error) (map[string]bool, error) {
	cs, err := e.c.ContainerList(ctx, container.ListOptions{All: true, Size: true})
	if err != nil {
		return nil, fmt.Errorf("prune: list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range cs {
		key := c.Labels[pipeline.LabelRunKey]
		leftover := c.Labels[LabelExport] != "" && key != "" && ended[key] &&
			c.State != "running" && c.State != "restarting" && inScope(c.Labels, opt.Scope) &&
			(opt.MinAge < 0 || opt.Now().Sub(time.Unix(c.Created, 0)) >= opt.MinAge) &&
			res.Containers < opt.MaxRemovals
		if !leftover {
			used[c.ImageID] = true
			continue
		}
		if !opt.DryRun {
			if err := e.c.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
				*errs = append(*errs, fmt.Errorf("prune: remove container %s: %w", shortID(c.ID), err))
				used[c.ImageID] = true
				continue
			}
		}
		res.Containers++
		res.ContainerBytes += c.SizeRw
	}
	return used, nil
}

// imageTree lists every image (the untagged layers too) and marks the
// bot's, the stale and the pinned ones (see the top of this file).
func (e *Engine) imageTree(ctx context.Context, opt PruneOptions, repos, ended, used, gone map[string]bool) (map[string]*imageNode, error) {
	list, err := e.c.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs()})
	if err != nil {
		return nil, fmt.Errorf("prune: list images: %w", err)
	}
	nodes := make(imageNodes, len(list))
	for _, s := range list {
		if gone[s.ID] {
			continue
		}
		nodes[s.ID] = &imageNode{Summary: s}
	}
	for _, n := range nodes {
		n.own = n.Size
		if p, ok := nodes[n.ParentID]; ok {
			p.children++
			if n.Size >= p.Size {
				n.own = n.Size - p.Size
			}
		}
	}
	// The tagged images: the bot's by their tags; the superseded system
	// images: untagged, with a system build's label no tagged system
	// image of the bot carries any more.
	live := map[string]bool{}
	for _, n := range nodes {
		n.bot = len(tags(n)) > 0 && ownedByTags(n, repos)
		n.scoped = opt.Scope == "" || inScope(n.Labels, opt.Scope)
		if n.bot && isSystemImage(n) {
			live[n.Labels[pipeline.LabelSystemBuilt]] = true
		}
	}
	underBot := map[string]bool{}
	nodes.guard(false, underBot)
	for _, n := range nodes {
		if !n.guarded && staleSystem(n, live) {
			n.bot, n.stale = true, true
		}
	}
	nodes.flowDown()
	nodes.claimUnder(underBot)
	nodes.pin(ended, used)
	return nodes, nil
}

// imageNodes are the engine's images by ID.
type imageNodes map[string]*imageNode

// ancestors calls f on n's ancestors, nearest first, while f returns
// true (and at most 4096 deep).
func (nodes imageNodes) ancestors(n *imageNode, f func(p *imageNode) bool) {
	for p, depth := nodes[n.ParentID], 0; p != nil && depth < 4096 && f(p); p, depth = nodes[p.ParentID], depth+1 {
	}
}

// guard marks the ancestors of the images that are not the bot's: at
// first (all false) the tagged ones; then also the untagged ones that lie
// under none of the bot's images (the others are the layers of the bot's
// own builds, below its labels).
func (nodes imageNodes) guard(all bool, underBot map[string]bool) {
	for _, n := range nodes {
		if n.bot || (!all && len(tags(n)) == 0) || (all && underBot[n.ID]) {
			continue
		}
		nodes.ancestors(n, func(p *imageNode) bool {
			if p.guarded {
				return false
			}
			p.guarded = true
			return true
		})
	}
}

// flowDown: an untagged image built on one of the bot's (its layer cache)
// is the bot's, unless an image that is not the bot's is built on it.
// Scope and staleness flow down too.
func (nodes imageNodes) flowDown() {
	done := map[string]bool{}
	var visit func(n *imageNode, depth int)
	visit = func(n *imageNode, depth int) {
		if done[n.ID] || depth > 4096 {
			return
		}
		done[n.ID] = true
		p, ok := nodes[n.ParentID]
		if !ok {
			return
		}
		visit(p, depth+1)
		if len(tags(n)) == 0 {
			n.scoped = n.scoped || p.scoped
			if !n.guarded {
				n.bot = n.bot || p.bot
				n.stale = n.stale || p.stale
			}
		}
	}
	for _, n := range nodes {
		visit(n, 0)
	}
}

// claimUnder: the untagged layers under one of the bot's images (the
// layers of its own build) are the bot's, unless an image that is not the
// bot's is built on them.
func (nodes imageNodes) claimUnder(underBot map[string]bool) {
	for _, n := range nodes {
		if !n.bot {
			continue
		}
		nodes.ancestors(n, func(p *imageNode) bool {
			if underBot[p.ID] {
				return false
			}
			underBot[p.ID] = true
			return true
		})
	}
	nodes.guard(true, underBot)
	for _, n := range nodes {
		if !n.bot {
			continue
		}
		nodes.ancestors(n, func(p *imageNode) bool {
			if p.bot || p.guarded || len(tags(p)) > 0 {
				return false
			}
			p.bot = true
			p.scoped = p.scoped || n.scoped
			return true
		})
	}
}

// pin marks the images of runs not known to have ended, those a
// container uses, and everything they are built on.
func (nodes imageNodes) pin(ended, used map[string]bool) {
	for _, n := range nodes {
		key := n.Labels[pipeline.LabelRunKey]
		if (key == "" || ended[key]) && !used[n.ID] || n.pinned {
			continue
		}
		n.pinned = true
		nodes.ancestors(n, func(p *imageNode) bool {
			if p.pinned {
				return false
			}
			p.pinned = true
			return true
		})
	}
}

// candidates are the bot's images that may be removed now: leaves (no
// child), not pinned, old enough, and not a tagged system image while a
// build may use it; stale ones first, then oldest first.
func candidates(nodes map[string]*imageNode, opt PruneOptions) []*imageNode {
	var out []*imageNode
	for _, n := range nodes {
		if !n.bot || !n.scoped || n.pinned || n.children > 0 {
			continue
		}
		if opt.MinAge > 0 && opt.Now().Sub(n.created()) < opt.MinAge {
			continue
		}
		if opt.Busy && isSystemImage(n) {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.stale != b.stale {
			return a.stale
		}
		if a.Created != b.Created {
			return a.Created < b.Created
		}
		return a.ID < b.ID
	})
	return out
}

// removeImage removes n with its untagged parents that have no other
// child (the engine's own rule), and returns the bytes freed (all, and
// the bot's share) and the images removed. In a dry run it counts what
// the engine would remove and marks it gone.
func (e *Engine) removeImage(ctx context.Context, n *imageNode, nodes map[string]*imageNode, dryRun bool, gone map[string]bool) (freed, freedBot int64, count int, err error) {
	add := func(d *imageNode) {
		count++
		freed += d.own
		if d.bot && d.scoped {
			freedBot += d.own
		}
	}
	if dryRun {
		for p := n; p != nil && !gone[p.ID]; p = nodes[p.ParentID] {
			if p != n && (len(tags(p)) > 0 || p.children > 1 || p.pinned) {
				break
			}
			gone[p.ID] = true
			add(p)
		}
		return freed, freedBot, count, nil
	}
	// Never forced: an image with a tag added since the listing (or a
	// container) stays. The bot's extra tags (a pushed run's
	// <push repo>:run-<id>) are untagged one by one first, each only while
	// it still names this image.
	ts := tags(n)
	for _, t := range ts[min(1, len(ts)):] {
		ins, err := e.c.ImageInspect(ctx, t)
		if err != nil || ins.ID != n.ID {
			if err != nil && !cerrdefs.IsNotFound(err) {
				return 0, 0, 0, fmt.Errorf("prune: inspect %s: %w", t, err)
			}
			return 0, 0, 0, nil // the tag moved: the next pass sees it again
		}
		if _, err := e.c.ImageRemove(ctx, t, image.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return 0, 0, 0, fmt.Errorf("prune: untag %s: %w", t, err)
		}
	}
	items, err := e.c.ImageRemove(ctx, n.ID, image.RemoveOptions{PruneChildren: true})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return 0, 0, 0, nil
		}
		return 0, 0, 0, fmt.Errorf("prune: remove image %s (%s): %w", shortID(n.ID), strings.Join(tags(n), ", "), err)
	}
	// The answer lists the layers deleted too: only images count.
	for _, it := range items {
		if d, ok := nodes[it.Deleted]; ok {
			add(d)
		}
	}
	return freed, freedBot, count, nil
}

// botBytes is what the bot's images take: the sum of their own layers.
func botBytes(nodes map[string]*imageNode) int64 {
	var n int64
	for _, x := range nodes {
		if x.bot && x.scoped {
			n += x.own
		}
	}
	return n
}

func anyStale(nodes map[string]*imageNode) bool {
	for _, n := range nodes {
		if n.stale && n.scoped && !n.pinned && n.children == 0 {
			return true
		}
	}
	return false
}

// tags are the image's tags, less the "<none>:<none>" old engines list.
func tags(n *imageNode) []string {
	var out []string
	for _, t := range n.RepoTags {
		if t != "<none>:<none>" && t != "" {
			out = append(out, t)
		}
	}
	return out
}

// ownedByTags tells a tagged image of the bot: it carries a label of the
// bot and each of its tags is in repos: for an image with a run key, the
// tag of that run (<repo>:<id> or <repo>:run-<id>); for a shared system
// image (a system build's label, no run key), any tag.
func ownedByTags(n *imageNode, repos map[string]bool) bool {
	ts := tags(n)
	if len(ts) == 0 || !hasBotLabel(n.Labels) {
		return false
	}
	key := n.Labels[pipeline.LabelRunKey]
	id, _, _ := strings.Cut(key, "@")
	if key == "" && n.Labels[pipeline.LabelSystemBuilt] == "" {
		return false
	}
	for _, t := range ts {
		repo, tag := splitTag(t)
		if !repos[familiar(repo)] {
			return false
		}
		if key != "" && (id == "" || (tag != id && tag != "run-"+id)) {
			return false
		}
	}
	return true
}

// splitTag splits "repo:tag" (the repository may have a registry's
// host:port).
func splitTag(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || i < strings.LastIndex(ref, "/") {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

// familiar is a repository's name as the engine lists it: without Docker
// Hub's docker.io/ (or index.docker.io/) and library/ prefixes.
func familiar(repo string) string {
	for _, p := range []string{"docker.io/", "index.docker.io/"} {
		repo = strings.TrimPrefix(repo, p)
	}
	return strings.TrimPrefix(repo, "library/")
}

// isSystemImage tells a tagged shared system image: it carries
// pipeline.LabelSystemBuilt and no run's key (the images built on it
// inherit the label, and a run's carries its key).
func isSystemImage(n *imageNode) bool {
	return len(tags(n)) > 0 && n.Labels[pipeline.LabelSystemBuilt] != "" && n.Labels[pipeline.LabelRunKey] == ""
}

// staleSystem tells an untagged image of a superseded system build: it
// carries a system build's label that no tagged system image carries any
// more (the tag moved to a newer build), and no run's key. live are the
// labels of the tagged system images.
func staleSystem(n *imageNode, live map[string]bool) bool {
	v := n.Labels[pipeline.LabelSystemBuilt]
	return len(tags(n)) == 0 && v != "" && n.Labels[pipeline.LabelRunKey] == "" && !live[v]
}

func hasBotLabel(labels map[string]string) bool {
	for k := range labels {
		if strings.HasPrefix(k, labelPrefix) {
			return true
		}
	}
	return false
}

func inScope(labels map[string]string, scope string) bool {
	if scope == "" {
		return true
	}
	k, v, _ := strings.Cut(scope, "=")
	return labels[k] == v
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
