"""MkDocs hook: "click to the code line" on a static site, and no stale names on any page.

1. Source pages. Every .py file of minicnn/ and kernels/ (and any other repository file a
   page links to) becomes a page ``code/<path>.md`` of line-numbered code in which line n
   has the anchor ``#L-n``.
2. Code links. On any page, ``[text](code:TARGET)`` or ``[text](code:TARGET "fragment")``
   becomes a link to the right source page and line, resolved at build time:

       code:minicnn.functional.conv.im2col            the line of ``def im2col``
       code:minicnn.functional.conv.Conv2d.backward "col2im("
                                                      the first line of that method
                                                      containing ``col2im(``
       code:minicnn/functional/conv.py                the file (or "fragment": its line)

3. MathJax, served by the site itself: the copy of MathJax 3 that the docs extra installs
   (the ``mathjax`` package) is copied into ``javascripts/mathjax/``, so the formulas
   render with no network and no page loads anything from another host.
4. The tutorials as notebooks: each page of docs/tutorials/ gets ``<page>.ipynb`` beside it
   (docs/notebooks.py) and a link to download it; ``{{ main_job.NAME }}`` on any page
   becomes the main job's recorded figure (docs/main_job.py, docs/main_job.json).
5. Names in prose. Inline code that names a module object (`minicnn.x.y`, `mc.x`,
   `F.x`, mc = minicnn, F = minicnn.functional) or a repository path (`minicnn/...`,
   `kernels/...`, `tests/...`, `benchmarks/...`, `docs/...`) must exist.

A reference that does not resolve stops the build with an error naming the page and the
reference. Names resolve by importing minicnn, so build from a checkout with minicnn
installed in editable mode (pip install -e ".[docs]"). ``check_page(markdown)`` is the same check for tests (tests/test_docs.py).
"""
import importlib
import importlib.util
import inspect
import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_for_filename

REPO = Path(__file__).resolve().parent.parent


def _docs_module(name):
    """docs/<name>.py, loaded by path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", REPO / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notebooks = _docs_module("notebooks")
main_job = _docs_module("main_job")
SOURCE_DIRS = ("minicnn", "kernels")          # every .py file here gets a source page
# MathJax's CommonHTML output with what it loads on demand: TeX extensions (autoload),
# fonts, the context menu, the accessibility tools and their speech rules.
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml", "ui", "a11y", "sre",
                 "adaptors")
MATHJAX_URI = "javascripts/mathjax"
CODE_LINK = re.compile(r'\]\(code:([\w./-]+)(?:\s+"([^"]*)")?\)')
PROSE_PATH = re.compile(r"^(minicnn|kernels|tests|benchmarks|docs)/[\w./-]*$")
PROSE_NAME = re.compile(r"^(minicnn|mc|F)((?:\.\w+)+)")
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")   # `x`, ``x `y` z``
ALIASES = {"mc": "minicnn", "F": "minicnn.functional"}


class BadReference(ValueError):
    """A page names a function, class or file that does not exist."""


# ----------------------------------------------------------------------------- resolving
def find_object(dotted):
    """The object named ``a.b.c``: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                raise BadReference(f"{dotted}: {'.'.join(parts[:i])} has no attribute {attr!r}")
            obj = getattr(obj, attr)
        return obj
    raise BadReference(f"{dotted}: no module {parts[0]!r} can be imported")


def resolve(target, fragment=None):
    """(repository-relative path, line number) of a code: link's target."""
    if "/" in target or target.endswith(".py"):
        path = (REPO / target).resolve()
        if not path.is_file() or not path.is_relative_to(REPO):
            raise BadReference(f"{target}: no such file in the repository")
        lines, start = path.read_text().splitlines(), 1
    else:
        obj = find_object(target)
        obj = getattr(obj, "py_func", obj)                       # a numba kernel's Python source
        if not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)):
            # a constant: the line that assigns it in its module
            module, name = target.rsplit(".", 1)
            return resolve(module, fragment or f"{name} =")
        try:
            path = Path(inspect.getsourcefile(obj)).resolve()
            lines, start = inspect.getsourcelines(obj)
        except (TypeError, OSError) as error:
            raise BadReference(f"{target}: has no Python source to link to ({error})") from None
        start = max(start, 1)                                    # a module's lines start at 0
        if not path.is_relative_to(REPO):
            raise BadReference(f"{target}: is defined in {path}, outside the repository")
        lines = [line.rstrip("\n") for line in lines]
        while lines and lines[0].lstrip().startswith("@"):     # the def line, not a decorator
            lines, start = lines[1:], start + 1
    rel = path.relative_to(REPO).as_posix()
    if not fragment:
        return rel, start
    for offset, line in enumerate(lines):
        if fragment in line:
            return rel, start + offset
    raise BadReference(f"{target}: no line contains {fragment!r}")


def check_name(text):
    """Check an inline-code name or path in prose; returns it if checked, else None."""
    if PROSE_PATH.match(text):
        if not (REPO / text).exists():
            raise BadReference(f"{text}: no such file or folder in the repository")
        return text
    match = PROSE_NAME.match(text)
    if match:
        find_object(ALIASES.get(match.group(1), match.group(1)) + match.group(2))
        return match.group(0)
    return None


# ----------------------------------------------------------------------------- page text
def prose_parts(markdown):
    """Split markdown into (is_prose, text) pieces: fenced blocks and inline code are not
    prose. Inline code is returned as (None, span) so its name can be checked."""
    pieces, fence = [], None
    for line in markdown.splitlines(keepends=True):
        opener = re.match(r"\s*(`{3,}|~{3,})", line)
        if fence is None and opener:
            fence = opener.group(1)
        elif fence is not None and line.strip() == fence[0] * len(line.strip()) \
                and len(line.strip()) >= len(fence):
            fence = None
            pieces.append((False, line))
            continue
        if fence is not None:
            pieces.append((False, line))
            continue
        end = 0
        for span in INLINE_CODE.finditer(line):
            pieces += [(True, line[end:span.start()]), (None, span.group(0))]
            end = span.end()
        pieces.append((True, line[end:]))
    return pieces


def check_page(markdown):
    """Every reference on a page: (code links [(target, fragment)], prose names [text]).
    Raises BadReference at the first one that does not resolve."""
    links, names = [], []
    for is_prose, text in prose_parts(markdown):
        if is_prose:
            for target, fragment in CODE_LINK.findall(text):
                resolve(target, fragment or None)
                links.append((target, fragment))
        elif is_prose is None:
            checked = check_name(text.strip("`").strip())
            if checked:
                names.append(checked)
    return links, names


# ----------------------------------------------------------------------------- source pages
def source_page(rel):
    """Markdown of the source page of ``rel``: a title and line-numbered, highlighted code
    in which line n is <span id="L-n">. The page hides the side bars and takes the whole
    width of the window (docs/stylesheets/extra.css), so the math comments beside the code
    need no scrolling."""
    code = (REPO / rel).read_text()
    formatter = HtmlFormatter(linenos="table", linespans="L", cssclass="highlight", wrapcode=True)
    html = highlight(code, get_lexer_for_filename(rel), formatter)
    return (f"---\nhide:\n  - navigation\n  - toc\n---\n\n# `{rel}`\n\n"
            f"<div class=\"source-code\">\n{html}\n</div>\n")


def page_uri(rel):
    return f"code/{rel}.md"


def on_files(files, config):
    sources = {p.relative_to(REPO).as_posix() for d in SOURCE_DIRS
               for p in (REPO / d).rglob("*.py") if "__pycache__" not in p.parts}
    for file in files.documentation_pages():
        for is_prose, text in prose_parts(file.content_string):
            for target, fragment in CODE_LINK.findall(text) if is_prose else ():
                try:
                    sources.add(resolve(target, fragment or None)[0])
                except BadReference as error:
                    raise PluginError(f"{file.src_uri}: bad code link: {error}") from None
    listing = ["# Source code", "", "Every file the pages link to, with line numbers.", ""]
    for rel in sorted(sources):
        files.append(File.generated(config, page_uri(rel), content=source_page(rel)))
        listing.append(f"- [`{rel}`]({rel}.md)")      # code: __init__ is not bold "init"
    files.append(File.generated(config, "code/index.md", content="\n".join(listing) + "\n"))
    for rel, path in mathjax_files():
        files.append(File.generated(config, f"{MATHJAX_URI}/{rel}", abs_src_path=str(path)))
    for page in notebooks.pages():
        files.append(File.generated(config, f"tutorials/{page.stem}.ipynb",
                                    content=notebooks.notebook_json(page)))
    return files


def notebook_link(markdown, stem):
    """The page with a line under its title that offers its notebook for download."""
    title, _, rest = markdown.partition("\n")
    note = (f'\n\n*This tutorial is also a Jupyter notebook: [{stem}.ipynb]({stem}.ipynb){{: download="{stem}.ipynb" }} '
            f'(or, in a checkout, `python docs/notebooks.py` writes them all to `notebooks/`).*\n')
    return title + note + rest


def mathjax_files():
    """(path under javascripts/mathjax/, file) of the MathJax the site serves, from the
    ``mathjax`` package of the docs extra (MathJax 3's own es5 build)."""
    try:
        import mathjax
    except ImportError:
        raise PluginError('the docs need MathJax from the docs extra: pip install -e ".[docs]" '
                          '(it installs the package django-static-mathjax, a copy of MathJax 3)'
                          ) from None
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    found = []
    for part in MATHJAX_PARTS:
        top = es5 / part
        if not top.exists():
            raise PluginError(f"the installed MathJax ({es5}) has no {part}; reinstall the docs "
                              f"extra: pip install -e \".[docs]\"")
        for path in sorted(top.rglob("*") if top.is_dir() else [top]):
            if path.is_file():
                found.append((path.relative_to(es5).as_posix(), path))
    return found


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri.startswith("code/"):
        return markdown
    here = posixpath.dirname(page.file.src_uri)
    try:
        markdown = main_job.substitute(markdown, page.file.src_uri)
    except ValueError as error:
        raise PluginError(str(error)) from None
    if here == "tutorials":
        markdown = notebook_link(markdown, posixpath.basename(page.file.src_uri)[:-3])

    def link(match):
        rel, line = resolve(match.group(1), match.group(2))
        url = posixpath.relpath(page_uri(rel), here)
        return f'](<{url}#L-{line}> "{rel}, line {line}")'

    out = []
    for is_prose, text in prose_parts(markdown):
        try:
            if is_prose:
                text = CODE_LINK.sub(link, text)
            elif is_prose is None:
                check_name(text.strip("`").strip())
        except BadReference as error:
            raise PluginError(f"{page.file.src_uri}: {error}") from None
        out.append(text)
    return "".join(out)
