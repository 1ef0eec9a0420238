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
// What is the bot's: an image carrying a label of the bot
// (io.linux-builder.*: a run's image and the layers after its
// Dockerfile's LABEL step, a shared system image), and an untagged image
// descending from one (the layer cache of a spec's build). Base images
// (`bot base import`, or any other image the bot did not label) are never
// touched, nor are their untagged descendants that descend from no image
// of the bot (a system image's own layer cache goes with the system image:
// removing an image removes its untagged parents that have no other
// child).

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
	// InFlight are the run keys (pipeline.RunKey) of the runs not ended:
	// their images and containers, and every image they descend from,
	// stay. Busy says a run may be building now (on this engine or
	// another): the tagged shared system images stay too, since a run
	// about to start its build may use one.
	InFlight map[string]bool
	Busy     bool
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
	pinned   bool // an in-flight run's image, or an ancestor of one
}

func (n *imageNode) created() time.Time { return time.Unix(n.Created, 0) }

// Prune removes the bot's leftover export containers, the images made
// from a superseded shared system image, then the bot's oldest images (by
// creation) until what it has left fits opt.Budget. An image is removed
// with its untagged parents that have no other child; an image with a
// child, a container, or an in-flight run's label is never removed. It
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
	used, err := e.pruneContainers(ctx, opt, &res, &errs)
	if err != nil {
		return res, err
	}
	removed := res.Containers
	gone := map[string]bool{} // images removed in a dry run
	for round := 0; removed < opt.MaxRemovals; round++ {
		nodes, err := e.imageTree(ctx, opt, used, gone)
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

// pruneContainers removes the bot's export containers that no in-flight
// run owns and that are older than opt.MinAge, and returns the images
// every other container uses.
func (e *Engine) pruneContainers(ctx context.Context, opt PruneOptions, res *PruneResult, errs *[]error) (map[string]bool, error) {
	cs, err := e.c.ContainerList(ctx, container.ListOptions{All: true, Size: true})
	if err != nil {
		return nil, fmt.Errorf("prune: list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range cs {
		leftover := c.Labels[LabelExport] != "" && !opt.InFlight[c.Labels[pipeline.LabelRunKey]] &&
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
// bot's, the stale and the pinned ones.
func (e *Engine) imageTree(ctx context.Context, opt PruneOptions, used, gone map[string]bool) (map[string]*imageNode, error) {
	list, err := e.c.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs()})
	if err != nil {
		return nil, fmt.Errorf("prune: list images: %w", err)
	}
	nodes := make(map[string]*imageNode, len(list))
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
	// Ownership flows from an image of the bot to its untagged children
	// (the layer cache built on it) and to its untagged parents (the
	// layers of its own build, below its labels), then down again.
	// Staleness and scope flow down; pins (below) flow up.
	for _, n := range nodes {
		n.bot = hasBotLabel(n.Labels)
		n.scoped = opt.Scope == "" || inScope(n.Labels, opt.Scope)
	}
	down := func() {
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
				n.bot = n.bot || p.bot
				n.scoped = n.scoped || p.scoped
				n.stale = n.stale || p.stale
			}
		}
		for _, n := range nodes {
			visit(n, 0)
		}
	}
	down()
	for _, n := range nodes {
		if !n.bot {
			continue
		}
		for p, depth := nodes[n.ParentID], 0; p != nil && !p.bot && len(tags(p)) == 0 && depth < 4096; p, depth = nodes[p.ParentID], depth+1 {
			p.bot = true
			p.scoped = p.scoped || n.scoped
		}
	}
	live := map[string]bool{}
	for _, n := range nodes {
		if isSystemImage(n) {
			live[n.Labels[pipeline.LabelSystemBuilt]] = true
		}
	}
	for _, n := range nodes {
		n.stale = n.bot && staleSystem(n, live)
	}
	down()
	for _, n := range nodes {
		if (n.Labels[pipeline.LabelRunKey] != "" && opt.InFlight[n.Labels[pipeline.LabelRunKey]]) || used[n.ID] {
			for p, depth := n, 0; p != nil && !p.pinned && depth < 4096; p, depth = nodes[p.ParentID], depth+1 {
				p.pinned = true
			}
		}
	}
	return nodes, nil
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
		if len(tags(n)) > 1 {
			// The bot tags an image once (a run's, or a system image's):
			// a second tag is someone's use of it, which a removal would
			// take away with the image.
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
