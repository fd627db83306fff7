"""Renderers for plans: Terraform-style text, Markdown for pull requests, versioned JSON.

Each renderer is a pure function of a :class:`reconciler.plan.Plan`. None can print a
secret, because a plan never holds one: keys appear as ``(sensitive value)``.
"""

from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

__all__ = ["render_json", "render_markdown", "render_text"]
