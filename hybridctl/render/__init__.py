"""Render every file hybridctl installs, from the inventory and the runtime values, with Jinja2 templates.

Templates live in ``templates/{linux,windows,cluster}``; values reach them only through quoting and
serialising filters. Runtime values that are not known yet become placeholders that keep every file
parseable but make ``RenderedFile.installable()`` refuse it.
"""

from hybridctl.render.api import render_all, render_cluster, render_host, write_output
from hybridctl.render.files import PURPOSES, RenderedFile
from hybridctl.render.labels import split_labels
from hybridctl.render.values import RuntimeValues

__all__ = [
    "PURPOSES",
    "RenderedFile",
    "RuntimeValues",
    "render_all",
    "render_cluster",
    "render_host",
    "split_labels",
    "write_output",
]
