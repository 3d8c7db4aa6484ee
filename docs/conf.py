"""Sphinx configuration of the partnas site: the executed notebooks and the docs, offline.

``make docs`` executes every notebook at its default parameters into ``docs/_build/notebooks/``,
stages them with the pages of ``docs/`` into ``docs/_build/src/`` (laid out as in the
repository) and runs ``sphinx-build -c docs docs/_build/src docs/_build/html``.  Nothing is
downloaded at build time and nothing is loaded from the network when a page is read:

* maths: MathJax 3 (SVG output, so no web fonts) is copied into ``_static/mathjax/`` from the
  pip package ``sphinx-mathjax-offline``;
* plotly: each notebook embeds plotly.js in its ``text/html`` outputs (the ``notebook``
  renderer of ``partnas_lib.notebook.setup``), and ``text/html`` outranks plotly's JSON mime
  type here.  Every ``<script src="https://...">`` left in an output is dropped (plotly's
  renderers always add MathJax from a CDN; the page has its own), and a page with figures but
  no embedded plotly.js (a notebook run with a CDN renderer) gets ``_static/plotly.min.js``,
  copied from the pip package ``plotly``;
* widgets: the ipywidgets embed manager (require.js + html-manager from a CDN) is not loaded,
  so a widget output draws nothing on the site (the notebooks show a static figure with each
  slider).

``tests/docs/test_site.py`` opens the built pages in headless Chromium with the network off and
checks from screenshots that a 3D figure and the equations draw.
"""

from __future__ import annotations

import re
import shutil
from importlib import metadata
from pathlib import Path

from docutils import nodes

project = "partnas"
author = "the partnas maintainers"
copyright = "partnas contributors, MIT licence"

extensions = ["myst_nb"]

# --- sources -------------------------------------------------------------------------------
# The staged source folder (docs/_build/src) mirrors the repository: index.md, docs/*.md and
# notebooks/NN_name.ipynb (executed; jupytext's .md twins are not staged).
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "**/*.metrics.json"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4          # docs link to sections: method.md#2-project-decisions
myst_dmath_double_inline = True

# --- notebooks -----------------------------------------------------------------------------
nb_execution_mode = "off"         # executed by papermill beforehand, at default parameters
nb_ipywidgets_js = {}             # no require.js / widget manager from a CDN
nb_mime_priority_overrides = [
    # plotly's own mime type needs the JupyterLab extension; its text/html twin carries plotly.js
    ("html", "text/html", 5),
    ("html", "application/vnd.plotly.v1+json", None),
]
nb_merge_streams = True

# --- maths: MathJax 3 served from _static, SVG output (no web fonts to fetch) -----------------
mathjax_path = "mathjax/tex-svg.js"   # relative to _static
mathjax3_config = {"svg": {"fontCache": "global"}}

# --- HTML ----------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "partnas"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
    "navbar_persistent": [],      # one search box (the sidebar's), not a second one in a top bar
}
html_context = {"default_mode": "light"}   # the plotly figures are drawn on white
html_static_path: list[str] = []

suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

_CDN_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.S)
_CDN_MODULE = re.compile(r"<script type=\"module\">\s*import \"https?://[^\"]*\"\s*</script>", re.S)


def _offline_html(app, doctree, docname) -> None:
    """Drop ``<script>`` tags that load from the network out of raw HTML outputs."""
    for node in doctree.findall(nodes.raw):
        if "html" not in node.get("format", "").split():
            continue
        text = node.astext()
        clean = _CDN_MODULE.sub("", _CDN_SCRIPT.sub("", text))
        if clean != text:
            node.children = [nodes.Text(clean)]
            node.rawsource = clean


def _plotly_fallback(app, pagename, templatename, context, doctree) -> None:
    """Serve ``_static/plotly.min.js`` to a page with plotly figures but no embedded plotly.js."""
    body = context.get("body", "")
    if "plotly-graph-div" in body and "* plotly.js v" not in body:
        app.add_js_file("plotly.min.js", priority=100)


def _mathjax_source() -> Path:
    dist = metadata.distribution("sphinx-mathjax-offline")
    path = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (path / "tex-svg.js").exists():
        raise RuntimeError(f"MathJax not found in {path}; pip install -e '.[docs]'")
    return path


def _copy_offline_assets(app, exc) -> None:
    """Copy MathJax (the SVG component and what it loads lazily) and plotly.js into _static."""
    if exc is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    unused = ("*-chtml*", "mml-*", "tex-mml-*", "tex-svg-full.js", "node-main.js", "chtml", "chtml.js")
    shutil.copytree(_mathjax_source(), static / "mathjax", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*unused))
    import plotly

    shutil.copy2(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", static / "plotly.min.js")


def setup(app):
    app.connect("doctree-resolved", _offline_html)
    app.connect("html-page-context", _plotly_fallback)
    app.connect("build-finished", _copy_offline_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
