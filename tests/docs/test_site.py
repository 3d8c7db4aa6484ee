"""The built site (``make docs``) in a real browser: headless Chromium with the network off.

Every page of ``docs/_build/html`` is opened from ``file://`` in the system Chromium (Debian
package ``chromium``, driven by Playwright's Python package; no browser is downloaded) with the
network off: the context is offline and every request that is not ``file:``/``data:``/``blob:``
is aborted and recorded.  For each page the test asserts that

* no request left ``file://`` and no script raised an error;
* every plotly figure was plotted (plotly.js came from the page itself, not from a CDN), and the
  first 3D scenes *drew*: a screenshot of the scene's box is not blank (at least 5 % of its
  pixels differ from the white page: the WebGL axis planes) and shows the traces' own colours
  (at least 30 pixels near a line or marker colour of a 3D trace: the skeleton itself);
* MathJax typeset every equation: as many ``mjx-container`` elements as the page has maths, none
  with a TeX error, every visible one with a non-zero size, and a screenshot of the first
  displayed equation contains ink (dark pixels).

Screenshots go to ``docs/_build/screenshots/`` for a person to look at.  The tests are marked
``docs`` (and ``slow``); they skip with a message when the site is not built, Playwright is not
installed or no Chromium is found.  ``make docs-test`` sets ``PARTNAS_DOCS_REQUIRED=1``, which
turns those skips into failures, so CI cannot pass without the browser check.
``PARTNAS_CHROMIUM`` points at another Chromium binary; 3D figures need WebGL, which headless
Chromium gets from SwiftShader (``--use-angle=swiftshader``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageColor

pytestmark = [pytest.mark.docs, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]  # tests/docs/ -> the repository
SITE = Path(os.environ.get("PARTNAS_DOCS_SITE", REPO / "docs" / "_build" / "html"))
SHOTS = REPO / "docs" / "_build" / "screenshots"
REQUIRED = os.environ.get("PARTNAS_DOCS_REQUIRED", "") not in ("", "0")
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = ["index", "docs/method", "docs/formats", "docs/architecture"] + [f"notebooks/{name}" for name in NOTEBOOKS]
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
                 "--no-sandbox", "--disable-dev-shm-usage"]
#: 3D scenes checked per page (each screenshot costs a WebGL frame in software)
SCENES_PER_PAGE = 2
TIMEOUT_MS = 120_000


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (PARTNAS_DOCS_REQUIRED is set: make docs-test needs the site and Chromium)")
    pytest.skip(reason)


def find_chromium() -> str | None:
    """The system Chromium binary: $PARTNAS_CHROMIUM, Debian's real binary behind its
    /usr/bin/chromium wrapper script, or the first chromium/chrome on PATH."""
    candidates = [os.environ.get("PARTNAS_CHROMIUM"), "/usr/lib/chromium/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")]
    return next((c for c in candidates if c and os.access(c, os.X_OK) and Path(c).is_file()), None)


@pytest.fixture(scope="module")
def browser():
    if not (SITE / "index.html").exists():
        _unavailable(f"the site is not built ({SITE.relative_to(REPO) if SITE.is_relative_to(REPO) else SITE}"
                     "/index.html is missing): run make docs")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[docs]' (or make setup-docs)")
    executable = find_chromium()
    if executable is None:
        _unavailable("no Chromium found: apt-get install -y chromium, or set PARTNAS_CHROMIUM")
    shutil.rmtree(SHOTS, ignore_errors=True)  # only this run's screenshots
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_offline(browser, page_name: str):
    """Open ``page_name`` from file:// with the network off; returns (page, requests, errors)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    context.set_default_timeout(TIMEOUT_MS)
    requests: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((SITE / f"{page_name}.html").as_uri(), wait_until="load")
    return page, requests, errors


def wait_for(page, condition: str, timeout_ms: int = 60_000) -> bool:
    """Wait until the JavaScript ``condition`` holds; False after ``timeout_ms``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(condition, timeout=timeout_ms)
        return True
    except PlaywrightTimeout:
        return False


def rgb_of(color) -> tuple[int, int, int] | None:
    """An RGB triple for a plotly colour string ('#2ca02c', 'rgb(..)', 'red'), else None."""
    if not isinstance(color, str):
        return None
    try:
        return ImageColor.getrgb(color.replace(" ", ""))[:3]
    except ValueError:
        return None


def screenshot(element, path: Path) -> np.ndarray:
    png = element.screenshot(path=str(path))
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def scene_draws(pixels: np.ndarray, colours: list[tuple[int, int, int]]) -> tuple[float, int]:
    """(fraction of pixels that are not white, pixels within 40 of a trace colour)."""
    not_white = float((pixels.min(axis=2) < 235).mean())
    near = 0
    for c in colours:
        near += int((np.abs(pixels - np.asarray(c)).max(axis=2) <= 40).sum())
    return not_white, near


_PLOTS = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map((gd, i) => ({
    index: i, plotted: !!(gd._fullLayout && gd.classList.contains('js-plotly-plot')),
    scenes: gd._fullLayout && gd._fullLayout._has && gd._fullLayout._has('gl3d')
        ? Array.from(gd.querySelectorAll('.gl-container > div')).map(d => d.id) : [],
    colours: (gd._fullData || []).filter(t => t.type === 'scatter3d')
        .flatMap(t => [t.line && t.line.color, t.marker && t.marker.color])
        .filter(c => typeof c === 'string'),
    webgl_error: /WebGL is not supported/i.test(gd.innerText),
}))"""

_MATH = """() => {
    const visible = el => !el.closest('details:not([open])');
    const maths = document.querySelectorAll('.math');
    const typeset = Array.from(document.querySelectorAll('mjx-container'));
    return {
        maths: maths.length, typeset: typeset.length,
        errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
        empty: typeset.filter(visible).filter(el => {
            const r = el.getBoundingClientRect(); return !(r.width > 0 && r.height > 0); }).length,
        with_svg: typeset.filter(el => el.querySelector('svg')).length,
        // display equations wider than the text column (the reader would have to scroll)
        wide: typeset.filter(visible).filter(el => el.getAttribute('display') === 'true').filter(el => {
            const svg = el.querySelector('svg'), column = el.parentElement;
            return svg && column && svg.getBoundingClientRect().width > column.clientWidth + 1; })
            .map(el => { const items = MathJax.startup.document.getMathItemsWithin(el);
                         return items.length ? items[0].math.slice(0, 90) : '?'; }),
    };
}"""


@pytest.mark.parametrize("page_name", PAGES)
def test_page_draws_offline(browser, page_name):
    if not (SITE / f"{page_name}.html").exists():
        pytest.fail(f"{page_name}.html is missing from the built site {SITE}")
    page, requests, errors = open_offline(browser, page_name)
    slug = page_name.replace("/", "-")
    try:
        has_math = page.evaluate("() => document.querySelector('.math') !== null")
        if has_math and wait_for(page, "() => window.MathJax && MathJax.startup && MathJax.startup.promise"):
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        figures = page.query_selector_all(".plotly-graph-div")
        if figures:  # plotted or not, the assertions below say which
            wait_for(page, "() => Array.from(document.querySelectorAll('.plotly-graph-div'))"
                           ".every(gd => gd.classList.contains('js-plotly-plot'))")
        plots = page.evaluate(_PLOTS)

        # -- the network stayed off, nothing broke
        outside = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert not outside, f"{page_name}: requests left file://: {outside[:5]}"
        assert not errors, f"{page_name}: script errors: {errors[:3]}"

        # -- plotly: every figure plotted, the first 3D scenes drew
        assert all(p["plotted"] for p in plots), f"{page_name}: figures not plotted: {plots}"
        assert not any(p["webgl_error"] for p in plots), f"{page_name}: plotly reports no WebGL"
        checked = 0
        for plot in (p for p in plots if p["scenes"]):
            colours = [c for c in map(rgb_of, plot["colours"]) if c is not None]
            assert colours, f"{page_name}: figure {plot['index']} has no 3D trace colours"
            for scene in plot["scenes"]:
                if checked == SCENES_PER_PAGE:
                    break
                box = figures[plot["index"]].query_selector(f".gl-container > div#{scene}")
                box.scroll_into_view_if_needed()
                for attempt in range(10):  # WebGL in software: give the first frame time
                    page.wait_for_timeout(300)
                    pixels = screenshot(box, SHOTS / f"{slug}-fig{plot['index']}-{scene}.png")
                    not_white, near = scene_draws(pixels, colours)
                    if not_white >= 0.05 and near >= 30:
                        break
                assert pixels.shape[0] > 50 and pixels.shape[1] > 50, f"{page_name}: scene box {pixels.shape}"
                assert not_white >= 0.05, (f"{page_name}: figure {plot['index']} {scene} is blank "
                                           f"({not_white:.1%} non-white pixels)")
                assert near >= 30, (f"{page_name}: figure {plot['index']} {scene}: only {near} pixels in "
                                    f"the traces' colours {colours}")
                checked += 1

        # -- maths: everything typeset by MathJax, with a size, and ink in a screenshot
        math = page.evaluate(_MATH)
        if has_math:
            assert math["typeset"] >= math["maths"] > 0, f"{page_name}: MathJax did not typeset the maths: {math}"
            assert math["errors"] == 0, f"{page_name}: {math['errors']} TeX errors"
            assert math["empty"] == 0, f"{page_name}: {math['empty']} equations of zero size"
            assert math["with_svg"] == math["typeset"], f"{page_name}: equations without SVG: {math}"
            assert not math["wide"], f"{page_name}: display equations wider than the page: {math['wide']}"
            display = page.query_selector("mjx-container[display='true']") or page.query_selector("mjx-container")
            display.scroll_into_view_if_needed()
            box = display.bounding_box()
            assert box and box["width"] > 5 and box["height"] > 5, f"{page_name}: equation box {box}"
            pixels = screenshot(display, SHOTS / f"{slug}-math.png")
            ink = float((pixels.max(axis=2) < 128).mean())
            assert ink > 0.005, f"{page_name}: the first equation has no ink ({ink:.2%} dark pixels)"
        else:
            assert math["typeset"] == 0
    finally:
        page.context.close()


def test_site_has_3d_figures_and_equations():
    """The page checks above cannot pass vacuously: the notebooks' pages hold 3D plotly figures
    and equations, and every notebook is in the site."""
    if not (SITE / "index.html").exists():
        _unavailable("the site is not built: run make docs")
    pages = {name: (SITE / "notebooks" / f"{name}.html") for name in NOTEBOOKS}
    missing = [name for name, path in pages.items() if not path.exists()]
    assert not missing, f"notebooks missing from the site: {missing}"
    html = {name: path.read_text(encoding="utf-8") for name, path in pages.items()}
    assert any('"scatter3d"' in text for text in html.values()), "no notebook page has a 3D plotly figure"
    without_math = [name for name, text in html.items() if not re.search(r'class="math', text)]
    assert not without_math, f"notebook pages without an equation: {without_math}"
