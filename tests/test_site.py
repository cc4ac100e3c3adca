"""The built docs site works with no network: no page loads a script, stylesheet, font or
picture from another host, and in a real browser (Debian's chromium, headless) the
formulas of an op page are typeset by the MathJax the site serves, and the set-up in
docs/javascripts/mathjax.js runs to its end.

The site is the one tests/conftest.py builds (or the one MINICNN_SITE_DIR names: .ci/run
builds it in a venv with only the docs extra). The browser tests need /usr/bin/chromium
(`apt-get install chromium`) and skip, saying so, without it; set MINICNN_SCREENSHOT=PATH
to keep the screenshot of the conv2d page for a look.
"""
import functools
import html.parser
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As a sandboxed root process with a closed network needs it: no sandbox, no GPU, none
# of the browser's own background traffic, and every host name but the local one unknown.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-extensions",
                  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
FOREIGN = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)     # http://, https://, //
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")
LOADING_LINKS = {"stylesheet", "preload", "modulepreload", "preconnect", "dns-prefetch",
                 "icon", "manifest", "prefetch"}


class Loads(html.parser.HTMLParser):
    """Every URL an HTML page makes the browser load: scripts, stylesheets and other
    loading <link>s, pictures, frames, media, and url()s in inline styles."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio", "embed", "track"):
            self.urls += [attrs[k] for k in ("src", "srcset", "poster") if attrs.get(k)]
        if tag == "link" and LOADING_LINKS & set((attrs.get("rel") or "").lower().split()):
            self.urls.append(attrs.get("href") or "")
        if tag == "object" and attrs.get("data"):
            self.urls.append(attrs["data"])
        self.urls += CSS_URL.findall(attrs.get("style") or "")

    def handle_data(self, data):
        if self.lasttag == "style":
            self.urls += CSS_URL.findall(data)


def test_no_page_loads_anything_from_another_host(docs_site):
    pages = sorted(docs_site.rglob("*.html"))
    assert len(pages) > 20
    foreign = []
    for page in pages:
        parser = Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        foreign += [(page.relative_to(docs_site), url) for url in parser.urls
                    if FOREIGN.match(url.strip())]
    for sheet in docs_site.rglob("*.css"):
        foreign += [(sheet.relative_to(docs_site), url) for url in
                    CSS_URL.findall(sheet.read_text(encoding="utf-8", errors="replace"))
                    if FOREIGN.match(url)]
    assert not foreign, f"pages load from other hosts: {foreign[:10]}"
    conv = (docs_site / "ops" / "conv2d" / "index.html").read_text()
    assert 'src="../../javascripts/mathjax/tex-chtml.js"' in conv     # MathJax, served here
    assert (docs_site / "javascripts" / "mathjax" / "tex-chtml.js").stat().st_size > 500_000
    fonts = docs_site / "javascripts" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert len(list(fonts.glob("*.woff"))) >= 20


def test_source_pages_are_full_width_and_init_is_code(docs_site):
    page = (docs_site / "code" / "minicnn" / "functional" / "conv.py" / "index.html").read_text()
    assert 'class="md-sidebar md-sidebar--primary" data-md-component="sidebar" data-md-type="navigation" hidden' in page
    css = next(docs_site.glob("stylesheets/extra.css")).read_text()
    assert ".md-main:has(.source-code) .md-grid { max-width: none; }" in css
    listing = (docs_site / "code" / "index.html").read_text()
    assert "<code>minicnn/__init__.py</code>" in listing and "<strong>init" not in listing


@pytest.fixture(scope="module")
def served(docs_site):
    """The site over HTTP on 127.0.0.1 (MathJax loads its fonts and extensions by URL)."""
    handler = functools.partial(QuietHandler, directory=str(docs_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def chromium(url, tmp_path, *extra):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); the "
                    "browser check of the docs needs it")
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    done = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           "--enable-logging=stderr", "--v=0", "--window-size=1400,1600",
                           "--virtual-time-budget=15000", *extra, url],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_an_op_page_typesets_its_math_in_a_browser(served, docs_site, tmp_path):
    url = f"{served}/ops/conv2d/"
    netlog = tmp_path / "netlog.json"
    done = chromium(url, tmp_path, "--dump-dom", f"--log-net-log={netlog}")
    dom = done.stdout
    formulas = (docs_site / "ops" / "conv2d" / "index.html").read_text().count('class="arithmatex"')
    assert formulas > 20
    typeset = dom.count("<mjx-container")
    assert typeset >= formulas, f"only {typeset} of {formulas} formulas were typeset"
    assert "\\(" not in re.sub(r"<script.*?</script>|<pre.*?</pre>", "", dom, flags=re.DOTALL)
    assert 'data-mathjax="ready"' in dom, "docs/javascripts/mathjax.js's ready() did not run"
    # what the page asked for (the browser's own requests have no page as initiator)
    events = json.loads(netlog.read_text())["events"]
    asked = {(e["params"].get("initiator"), e["params"]["url"]) for e in events
             if "url" in e.get("params", {}) and "initiator" in e["params"]}
    from_page = {u for initiator, u in asked if initiator == served}
    assert any(u.endswith("/javascripts/mathjax/tex-chtml.js") for u in from_page)
    assert any(u.endswith(".woff") for u in from_page), "MathJax loaded no font"
    assert all(u.startswith(served + "/") for u in from_page), sorted(from_page)


def test_a_screenshot_of_an_op_page(served, tmp_path):
    """For a person to look at: MINICNN_SCREENSHOT=conv2d.png keeps it."""
    shot = Path(os.environ.get("MINICNN_SCREENSHOT") or tmp_path / "conv2d.png")
    chromium(f"{served}/ops/conv2d/", tmp_path, f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
