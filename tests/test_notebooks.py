"""The tutorials as notebooks (docs/notebooks.py): every page of docs/tutorials/ becomes a
notebook that runs top to bottom in a Jupyter kernel (nbclient), with its pictures inline,
fit's live progress as a widget, and summary() shown once as a block of text."""
import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

DOCS = Path(__file__).resolve().parent.parent / "docs"
spec = importlib.util.spec_from_file_location("docs_notebooks", DOCS / "notebooks.py")
notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notebooks)
PAGES = notebooks.pages()
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_the_generator_turns_a_page_into_cells(tmp_path):
    page = tmp_path / "t.md"
    page.write_text(
        "# T\n\nSee [im2col](code:minicnn.functional.conv.im2col), [training](../training.md) "
        "and \\(x^2\\).\n\n"
        '```python exec="on" source="above" result="text" session="t"\nprint(1)\n'
        "print(2)  # markdown-exec: hide\n```\n\n"
        "```python\n# not run: needs Keras\nimport keras\n```\n\n"
        "```bash\nminicnn datasets\npip install x  # not run: the network\n```\n\n"
        '```python exec="on" html="1" session="t"\nprint("<b>hi</b>")\n```\n')
    cells = notebooks.notebook(page).cells
    kinds = [(c.cell_type, c.source.splitlines()[0] if c.source else "") for c in cells[1:]]
    assert kinds == [("markdown", "# T"), ("code", "print(1)"),
                     ("markdown", "```python"), ("code", "!minicnn datasets"),
                     ("markdown", "```bash"), ("code", "# Draws the pictures of the page inline "
                                                       "(the docs build runs this block to embed")]
    assert "See im2col, training and $x^2$." in cells[1].source
    assert cells[2].source == "print(1)"                       # the hidden line is left out
    assert "# not run: the network" in cells[5].source
    assert cells[6].metadata == {"jupyter": {"source_hidden": True}}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every tutorial's notebook, executed in a fresh kernel in its own folder."""
    env_path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ["PATH"] = env_path                # the kernel's `!minicnn` finds this minicnn
    os.environ.setdefault("MPLBACKEND", "Agg")
    done = {}
    for page in PAGES:
        folder = tmp_path_factory.mktemp(page.stem)
        nb = notebooks.notebook(page)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
        done[page.stem] = nb
    return done


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_tutorial_notebook_runs_top_to_bottom(executed, page):
    nb = executed[page.stem]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{page.name}: its notebook has no code cell"
    for cell in code:
        assert cell.execution_count is not None
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{page.name}: {cell.source[:80]!r} raised {errors[0].ename}"
    for cell in code:                            # a picture block shows its pictures
        if cell.metadata.get("jupyter", {}).get("source_hidden"):
            html = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
            assert "data:image/png;base64," in html, f"{page.name}: no picture inline"


def test_the_mnist_notebook_shows_progress_summary_and_pictures(executed):
    cells = [c for c in executed["mnist"].cells if c.cell_type == "code"]
    fit = next(c for c in cells if "model.fit(" in c.source)
    widgets = [o for o in fit.outputs if WIDGET in o.get("data", {})]
    assert len(widgets) == 2, "fit should draw a live bar (a widget) for each of 2 epochs"
    lines = "".join(o.text for o in fit.outputs if o.output_type == "stream").splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    summary = next(c for c in cells if "model.summary()" in c.source)
    assert len(summary.outputs) == 1                 # shown once, not again as a str
    shown = summary.outputs[0].data
    assert shown["text/html"].startswith('<pre style="white-space: pre;')
    assert "Total params: 44,426" in shown["text/plain"]
    pictures = next(c for c in cells if c.metadata.get("jupyter", {}).get("source_hidden"))
    assert pictures.outputs[0].data["text/html"].count("<img") == 2
    cli = next(c for c in cells if c.source.startswith("!minicnn train lenet"))
    text = "".join(o.get("text", "") for o in cli.outputs)
    assert "held-out accuracy:" in text and "wrote runs/cli/filters.png" in text
