package render

import (
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// ForPipeline adapts the renderer to pipeline.Renderer with fixed options.
func (r *Renderer) ForPipeline(opts Options) pipeline.Renderer {
	return pipelineRenderer{r: r, opts: opts}
}

type pipelineRenderer struct {
	r    *Renderer
	opts Options
}

func (a pipelineRenderer) Render(doc *spec.Document, diags spec.Diagnostics) (pipeline.BuildContext, spec.Diagnostics, error) {
	c, err := a.r.Render(doc, diags, a.opts)
	if err != nil {
		return nil, nil, err
	}
	return pipelineContext{c}, c.Warnings, nil
}

type pipelineContext struct{ *Context }

func (c pipelineContext) ContextHash() string { return c.Hash }
func (c pipelineContext) SpecHash() string    { return c.Context.SpecHash }
func (c pipelineContext) BaseImage() string   { return c.Image }

// System is the shared system image the context starts FROM, and its
// build context: pipeline.SystemImager.
func (c pipelineContext) System() (string, pipeline.BuildContext) {
	if c.Context.System == nil || c.SystemTag == "" {
		return "", nil
	}
	return c.SystemTag, pipelineContext{c.Context.System}
}

var _ pipeline.SystemImager = pipelineContext{}
