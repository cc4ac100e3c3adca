"""The tutorials as Jupyter notebooks, generated from their pages (docs/tutorials/*.md).

    python docs/notebooks.py [OUT_DIR]      # writes OUT_DIR/<page>.ipynb (default: notebooks/)

jupytext reads a page into cells (prose -> Markdown cells, ```python blocks -> code
cells); then each cell is made to work in a notebook the way the page works on the site:

- a block marked ``# not run: <reason>`` stays visible but is not a code cell (Keras code,
  a download): it becomes Markdown, a fenced block;
- a shell block: each ``minicnn ...`` line becomes a ``!minicnn ...`` code cell (run by the
  notebook, as the tests run it), every other line (``# not run: ...``) stays Markdown;
- a block the docs build runs without showing it (``exec="on"`` with no ``source``: it
  prints the HTML of the page's pictures) becomes a code cell whose source is collapsed
  and whose output is that HTML, so the pictures show inline;
- a line marked ``# markdown-exec: hide`` (build plumbing the site hides) is left out;
- ``[text](code:...)`` links to the source pages and links to other pages of the site
  become their text; ``\\( \\)`` and ``\\[ \\]`` become ``$ $`` and ``$$ $$`` (Jupyter's
  math); ``{{ main_job.NAME }}`` becomes the recorded figure (docs/main_job.py).

The docs build (docs/hooks.py) offers each notebook for download on its page, and
tests/test_notebooks.py executes every one (nbclient) and checks its outputs.
"""
import importlib.util
import io
import re
import sys
import tokenize
from pathlib import Path

DOCS = Path(__file__).resolve().parent
TUTORIALS = DOCS / "tutorials"
SHELL = ("bash", "sh", "shell", "console")
NOT_RUN = re.compile(r"#\s*not run:\s*\S")
HIDDEN_LINE = re.compile(r"#\s*markdown-exec:\s*hide\b")
CODE_LINK = re.compile(r"\[([^\]]+)\]\(<?code:[^)]*\)")
PAGE_LINK = re.compile(r"\[([^\]]+)\]\((?!https?:|#)[^)\s]*\.md(?:#[^)\s]*)?\)")
INLINE_MATH = re.compile(r"\\\((.+?)\\\)", re.DOTALL)
DISPLAY_MATH = re.compile(r"\\\[(.+?)\\\]", re.DOTALL)
KERNEL = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
          "language_info": {"name": "python"}}


def _main_job():
    spec = importlib.util.spec_from_file_location("docs_main_job", DOCS / "main_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pages():
    """The tutorial pages, in name order."""
    return sorted(TUTORIALS.glob("*.md"))


def markdown_text(text, where):
    """A page's prose as a notebook's Markdown cell reads it."""
    text = _main_job().substitute(text, where)
    text = CODE_LINK.sub(r"\1", text)
    text = PAGE_LINK.sub(r"\1", text)
    text = DISPLAY_MATH.sub(lambda m: f"$${m[1]}$$", text)
    return INLINE_MATH.sub(lambda m: f"${m[1]}$", text)


def _fenced(language, source):
    return f"```{language}\n{source.rstrip()}\n```"


def _shell_cells(nbformat, source):
    """The cells of one shell block: ``!minicnn`` code cells and fenced Markdown."""
    cells, lines = [], source.splitlines()
    runnable = lambda line: line.strip().startswith("minicnn ") and not NOT_RUN.search(line)
    group, kind = [], None
    for line in lines + [None]:
        this = None if line is None else ("code" if runnable(line) else "markdown")
        if line is not None and not line.strip():
            continue
        if this != kind and group:
            if kind == "code":
                cells.append(nbformat.v4.new_code_cell("\n".join("!" + g.strip() for g in group)))
            else:
                cells.append(nbformat.v4.new_markdown_cell(_fenced("bash", "\n".join(group))))
            group = []
        kind = this
        if line is not None:
            group.append(line)
    return cells


def _html_cell(nbformat, source, where):
    """A hidden build block that prints HTML (the pictures): run it, show its HTML."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and "\n" in token.string:
            raise ValueError(f"{where}: a picture block with a string over several lines "
                             f"cannot be indented into a notebook cell; write it on one line")
    body = "\n".join("    " + line if line.strip() else line for line in source.splitlines())
    code = ("# Draws the pictures of the page inline (the docs build runs this block to embed\n"
            "# them; print() writes their HTML, shown below).\n"
            "import contextlib as _contextlib, io as _io\n"
            "from IPython.display import HTML as _HTML\n"
            "with _contextlib.redirect_stdout(_io.StringIO()) as _page:\n"
            f"{body}\n"
            "_HTML(_page.getvalue())")
    return nbformat.v4.new_code_cell(code, metadata={"jupyter": {"source_hidden": True}})


def notebook(page):
    """The notebook of one tutorial page (an nbformat NotebookNode, not executed)."""
    import jupytext
    import nbformat
    page = Path(page)
    where = page.relative_to(DOCS).as_posix() if page.is_relative_to(DOCS) else str(page)
    parsed = jupytext.reads(page.read_text(encoding="utf-8"), fmt="md")
    cells = [nbformat.v4.new_markdown_cell(
        f"*This notebook is generated from the docs page `docs/{where}` (by "
        f"`docs/notebooks.py`); run it top to bottom. It needs minicnn with its `plot` "
        f"extra: `pip install -e \".[plot,notebooks]\"` in a checkout.*")]
    for cell in parsed.cells:
        source, meta = cell.source, dict(cell.metadata)
        if cell.cell_type == "code":
            source = "\n".join(line for line in source.splitlines()
                               if not HIDDEN_LINE.search(line))
        if cell.cell_type == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(markdown_text(source, where)))
        elif source.startswith("%%") and source.split()[0][2:] in SHELL:
            cells += _shell_cells(nbformat, source.split("\n", 1)[1] if "\n" in source else "")
        elif source.lstrip().startswith("#") and NOT_RUN.match(source.lstrip()):
            cells.append(nbformat.v4.new_markdown_cell(_fenced("python", source)))
        elif meta.get("exec") and "source" not in meta and meta.get("html"):
            cells.append(_html_cell(nbformat, source, where))
        else:
            cells.append(nbformat.v4.new_code_cell(source))
    return nbformat.v4.new_notebook(cells=cells, metadata=dict(KERNEL))


def notebook_json(page):
    import nbformat
    return nbformat.writes(notebook(page))


def write_notebooks(out_dir):
    """Write <out_dir>/<page>.ipynb for every tutorial page; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for page in pages():
        path = out_dir / f"{page.stem}.ipynb"
        path.write_text(notebook_json(page), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_notebooks(sys.argv[1] if len(sys.argv) > 1 else "notebooks"):
        print(f"wrote {path}")
