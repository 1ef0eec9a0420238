package spec

import (
	yaml "go.yaml.in/yaml/v3"
)

// check walks the raw node tree once before any value is interpreted and
// rejects what would make interpretation unbounded or ambiguous: nesting
// deeper than MaxDepth, alias expansion past MaxNodes ("billion laughs"),
// duplicate keys, merge keys and keys that are not strings. It reports at
// most one depth or size problem, since one is enough to reject the file.
func (d *decoder) check(root *yaml.Node) bool {
	c := checker{d: d, memo: map[*yaml.Node]extent{}, active: map[*yaml.Node]bool{}}
	// Raw depth first: it has the most precise position.
	if deep := deepest(root, 1); deep != nil {
		d.errorf(deep, CodeTooDeep, "", "", "nesting is deeper than %d levels", MaxDepth)
		return false
	}
	if n := nthNode(root, MaxNodes+1); n != nil {
		d.errorf(n, CodeTooLarge, "", "", "the document has more than %d values", MaxNodes)
		return false
	}
	ext := c.measure(root)
	if ext.cyclic || ext.size > MaxNodes || ext.height > MaxDepth {
		at := firstAlias(root)
		switch {
		case ext.cyclic:
			d.errorf(at, CodeAliasBomb, "", "remove the alias", "an alias refers to a node that contains it")
		case ext.height > MaxDepth:
			d.errorf(at, CodeTooDeep, "", "", "nesting through aliases is deeper than %d levels", MaxDepth)
		default:
			d.errorf(at, CodeAliasBomb, "", "avoid anchors and aliases that repeat each other",
				"the document expands to more than %d nodes through aliases (an alias bomb?)", MaxNodes)
		}
		return false
	}
	ok := true
	walkRaw(root, func(n *yaml.Node) {
		if n.Kind != yaml.AliasNode && !allowedTags[n.Tag] {
			d.errorf(n, CodeTag, "", "remove the tag, or quote the value", "YAML tag %s is not supported in a spec", n.Tag)
			ok = false
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			switch {
			case k.Tag == "!!merge":
				d.errorf(k, CodeMergeKey, "", "write the keys out", "merge keys (<<) are not supported")
				ok = false
			case k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float"):
				d.errorf(k, CodeType, "", "", "a key must be a plain string")
				ok = false
			case seen[k.Value] != nil:
				d.errorf(n.Content[i], CodeDuplicateKey, "", "", "duplicate key %q (first defined at line %d)", k.Value, seen[k.Value].Line)
				ok = false
			default:
				seen[k.Value] = n.Content[i]
			}
		}
	})
	return ok
}

// allowedTags are the tags of plain JSON-like data. Anything else (!!binary,
// !!set, application tags) has no meaning in a spec.
var allowedTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!timestamp": true, "!!map": true, "!!seq": true, "!!merge": true,
}

type extent struct {
	size, height int
	cyclic       bool
}

type checker struct {
	d      *decoder
	memo   map[*yaml.Node]extent
	active map[*yaml.Node]bool
}

// measure returns the node count and height of n with aliases expanded,
// memoised per node so that an alias bomb costs linear time to measure.
// Sizes saturate just above MaxNodes.
func (c *checker) measure(n *yaml.Node) extent {
	if e, ok := c.memo[n]; ok {
		return e
	}
	if c.active[n] {
		return extent{cyclic: true}
	}
	c.active[n] = true
	defer delete(c.active, n)
	var e extent
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		e = c.measure(n.Alias)
	} else {
		e.size = 1
		for _, ch := range n.Content {
			ce := c.measure(ch)
			e.cyclic = e.cyclic || ce.cyclic
			e.size = min(e.size+ce.size, MaxNodes+1)
			e.height = max(e.height, ce.height)
		}
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			e.height++
		}
	}
	c.memo[n] = e
	return e
}

// deepest returns the first collection nested deeper than MaxDepth, without
// following aliases, or nil.
func deepest(n *yaml.Node, depth int) *yaml.Node {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if depth > MaxDepth {
			return n
		}
		for _, ch := range n.Content {
			if found := deepest(ch, depth+1); found != nil {
				return found
			}
		}
	}
	return nil
}

// nthNode returns the n-th node in document order (1-based), without
// following aliases, or nil when there are fewer.
func nthNode(root *yaml.Node, n int) *yaml.Node {
	var found *yaml.Node
	count := 0
	walkRaw(root, func(x *yaml.Node) {
		count++
		if count == n {
			found = x
		}
	})
	return found
}

// firstAlias returns the first alias node in document order, or root.
func firstAlias(root *yaml.Node) *yaml.Node {
	var found *yaml.Node
	walkRaw(root, func(n *yaml.Node) {
		if found == nil && n.Kind == yaml.AliasNode {
			found = n
		}
	})
	if found == nil {
		return root
	}
	return found
}

// walkRaw visits every node once, without following aliases. The depth
// check has run before it, so the recursion is bounded.
func walkRaw(n *yaml.Node, fn func(*yaml.Node)) {
	fn(n)
	for _, ch := range n.Content {
		walkRaw(ch, fn)
	}
}
