"""The docs site: it builds in strict mode, every name it mentions exists, and the worked
examples (minicnn.stepthrough) print the numbers that independent computations give."""
import html
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minicnn as mc
from minicnn.stepthrough import STEPS, run_step, step_through

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
ENV = dict(os.environ, NO_MKDOCS_2_WARNING="1")


def load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()


def mkdocs_build(config, site_dir):
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "-d", str(site_dir)], capture_output=True, text=True, env=ENV,
                          timeout=300)


# ----------------------------------------------------------------------------- (a) the build
@pytest.fixture(scope="module")
def site(docs_site):
    return docs_site              # built once per run (tests/conftest.py)


def page_html(site, name):
    return (site / name / "index.html").read_text()


OP_PAGES = ["conv2d", "pooling", "activations", "dense", "softmax_cross_entropy", "dropout",
            "batch_norm", "lrn"]


@pytest.mark.parametrize("page", OP_PAGES)
def test_op_page_renders_math_code_links_and_the_worked_example(site, page):
    text = page_html(site, f"ops/{page}")
    source = (DOCS / "ops" / f"{page}.md").read_text()
    assert text.count('class="arithmatex"') >= 5, "the formulas are not marked up for MathJax"
    links = re.findall(r'href="\.\./\.\./code/([\w/.]+\.py)/#L-(\d+)"', text)
    assert len(links) >= 5, "too few links from the formulas to the code"
    for rel, line in links:                      # each points at an existing line of a file
        assert 1 <= int(line) <= len((REPO / rel).read_text().splitlines()), (rel, line)
    names = re.findall(r'run_step\("(\w+)"\)', source) + \
        [n for block in re.findall(r"for name in \[([^\]]*)\]", source)
         for n in re.findall(r'"(\w+)"', block)]
    assert names, f"ops/{page}.md has no worked example"
    for name in names:                           # the numbers the build printed are step_through's
        assert html.escape(str(run_step(name)), quote=False) in text, name


def test_source_pages_have_line_anchors(site):
    text = page_html(site, "code/minicnn/functional/conv.py")
    rel, line = hooks.resolve("minicnn.functional.conv.col2im")
    assert rel == "minicnn/functional/conv.py"
    assert f'<span id="L-{line}">' in text
    anchored = re.search(rf'<span id="L-{line}">(.*?)</span>\n', text).group(1)
    assert "col2im" in re.sub(r"<[^>]+>", "", anchored)
    assert (site / "code" / "kernels" / "conv.py" / "index.html").exists()


def test_home_links_the_op_pages(site):
    text = (site / "index.html").read_text()
    for page in OP_PAGES:
        assert f'href="ops/{page}/"' in text


def write_tiny_site(tmp_path, page):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(page)
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"site_name: t\ndocs_dir: {docs}\nhooks:\n  - {DOCS / 'hooks.py'}\n")
    return config


@pytest.mark.parametrize("page, message", [
    ("[x](code:minicnn.functional.conv.no_such_function)", "no attribute 'no_such_function'"),
    ('[x](code:minicnn.functional.conv.im2col "no such line")', "no line contains"),
    ("[x](code:minicnn/functional/gone.py)", "no such file"),
    ("Prose naming `F.no_such_op` fails.", "no attribute 'no_such_op'"),
    ("Prose naming `minicnn/no_such_file.py` fails.", "no such file or folder"),
])
def test_the_build_fails_on_a_stale_reference(tmp_path, page, message):
    result = mkdocs_build(write_tiny_site(tmp_path, f"# T\n\n{page}\n"), tmp_path / "site")
    assert result.returncode != 0
    assert "index.md" in result.stderr and message in result.stderr, result.stderr


def test_a_tiny_site_with_good_references_builds(tmp_path):
    page = ("# T\n\n[im2col](code:minicnn.functional.conv.im2col) and `F.conv2d` in "
            "`minicnn/functional/conv.py`.\n")
    result = mkdocs_build(write_tiny_site(tmp_path, page), tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "code/minicnn/functional/conv.py/#L-" in (tmp_path / "site" / "index.html").read_text()


# ----------------------------------------------------------------------------- (b) references
PAGES = sorted(DOCS.rglob("*.md")) + [REPO / "README.md"]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_reference_on_every_page_resolves(path):
    links, names = hooks.check_page(path.read_text())      # raises at the first stale one
    if path.parent.name == "ops":
        assert len(links) >= 5, f"{path.name}: expected links from its formulas to the code"


def test_resolve_finds_the_definition_and_the_fragment_line():
    rel, line = hooks.resolve("minicnn.functional.conv.Conv2d.backward")
    lines = (REPO / rel).read_text().splitlines()
    assert lines[line - 1].strip().startswith("def backward")
    rel, line = hooks.resolve("minicnn.functional.conv.Conv2d.backward", "dx = col2im(")
    assert "dx = col2im(" in (REPO / rel).read_text().splitlines()[line - 1]
    rel, line = hooks.resolve("kernels/conv.py", "def im2col_rows")
    assert rel == "kernels/conv.py" and "def im2col_rows" in (REPO / rel).read_text().splitlines()[line - 1]
    rel, line = hooks.resolve("minicnn.layers.activations.NAMES")    # a constant: its assignment
    assert (REPO / rel).read_text().splitlines()[line - 1].startswith("NAMES =")


@pytest.mark.parametrize("markdown", [
    "[a](code:minicnn.functional.conv.Conv2d.nope)",
    '[a](code:minicnn.functional.conv.Conv2d.backward "this text is not in backward")',
    "[a](code:kernels/nope.py)",
    "[a](code:numpy.zeros)",                      # outside the repository
    "[a](code:../outside.py)",
    "see `mc.no_such_thing()`",
    "see `minicnn.functional.conv.im2col_gone`",
    "see `kernels/gone.py`",
    "see ``F.nothing_here`` twice",
])
def test_check_page_catches_a_bogus_reference(markdown):
    with pytest.raises(hooks.BadReference):
        hooks.check_page(markdown)


def test_check_page_ignores_code_blocks_and_other_names():
    page = ("```python\nF.not_checked_in_a_block()\n[a](code:nope.nope)\n```\n"
            "`model.fit` and `runs/latest/checkpoint.npz` are not repository names; "
            "``[`x`](code:not.a.link)`` is a code span.\n")
    assert hooks.check_page(page) == ([], [])


# ----------------------------------------------------------------------------- (c) step_through
def test_steps_cover_the_ops_of_the_docs():
    assert {"conv2d", "max_pool2d", "avg_pool2d", "relu", "linear", "softmax_cross_entropy",
            "dropout", "batch_norm", "lrn"} <= set(STEPS)


@pytest.mark.parametrize("name", STEPS)
def test_step_through_prints_every_array_it_returns(name):
    out = io.StringIO()
    arrays = step_through(name, file=out)
    text = out.getvalue()
    assert text == str(run_step(name))
    assert arrays and all(a.dtype == np.float64 for a in arrays.values())
    for label, array in arrays.items():
        assert f"\n{label}  " in text
        assert "\n".join("    " + line for line in
                         np.array2string(np.where(array == 0, 0.0, array), precision=4,
                                         suppress_small=True, floatmode="maxprec_equal",
                                         max_line_width=100).splitlines()) in text


def test_step_through_rejects_an_unknown_name():
    with pytest.raises(ValueError, match="unknown step 'conv3d'; choose one of: conv2d"):
        step_through("conv3d")


def test_step_through_numbers_do_not_depend_on_the_backend():
    texts = {}
    for backend in mc.available_backends():
        with mc.use_backend(backend):
            texts[backend] = [str(run_step(name)) for name in STEPS]
    assert len(set(map(tuple, texts.values()))) == 1


def t64(a, grad=True):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def close(actual, expected):
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=np.float64), rtol=1e-12, atol=1e-12)


def torch_check(arrays, fn, inputs, out_label, grad_labels, dout_label="dout"):
    """Run fn on torch copies of inputs, backward with the step's dout, compare."""
    ts = [t64(arrays[k]) for k in inputs]
    out = fn(*ts)
    close(arrays[out_label], out.detach().numpy())
    out.backward(torch.tensor(arrays[dout_label]).reshape(out.shape))
    for t, label in zip(ts, grad_labels):
        close(arrays[label], t.grad.numpy().reshape(arrays[label].shape))


def test_conv2d_step_against_torch_and_by_hand():
    a = run_step("conv2d").arrays
    x, w = a["x[0, 0]"], a["w[0, 0]"]
    torch_check(a, lambda x, w, b: TF.conv2d(x[None, None], w[None, None], b)[0, 0],
                ["x[0, 0]", "w[0, 0]", "b"], "out[0, 0]", ["dx[0, 0]", "dw[0, 0]", "db"],
                dout_label="dout[0, 0]")
    windows = [x[y:y + 2, c:c + 2].ravel() for y in range(3) for c in range(3)]
    close(a["cols"], np.stack(windows, axis=1))                     # column p = window p
    close(a["dcols"], np.outer(w.ravel(), a["dout[0, 0]"].ravel()))  # W^T dout
    close(a["out[0, 0]"], (a["w row"] @ a["cols"]).reshape(3, 3) + a["b"])


def test_pool_steps_against_torch():
    a = run_step("max_pool2d").arrays
    torch_check(a, lambda x: TF.max_pool2d(x[None, None], 2)[0, 0], ["x[0, 0]"], "out[0, 0]",
                ["dx[0, 0]"], dout_label="dout[0, 0]")
    assert a["dx[0, 0]"][0, 1] == a["dout[0, 0]"][0, 0] and a["dx[0, 0]"][1, 0] == 0   # the tie
    a = run_step("avg_pool2d").arrays
    torch_check(a, lambda x: TF.avg_pool2d(x[None, None], 2, stride=1)[0, 0], ["x[0, 0]"],
                "out[0, 0]", ["dx[0, 0]"], dout_label="dout[0, 0]")


@pytest.mark.parametrize("name, fn", [
    ("relu", torch.relu), ("leaky_relu", lambda x: TF.leaky_relu(x, 0.1)),
    ("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("softmax", lambda x: torch.softmax(x, -1)),
])
def test_activation_steps_against_torch(name, fn):
    a = run_step(name).arrays
    torch_check(a, fn, ["x"], "y", ["dx"])


def test_linear_step_against_torch():
    a = run_step("linear").arrays
    torch_check(a, lambda x, w, b: x @ w + b, ["x", "W", "b"], "y", ["dx", "dW", "db"])


def test_softmax_cross_entropy_step_against_torch():
    a = run_step("softmax_cross_entropy").arrays
    x = t64(a["x"])
    loss = TF.cross_entropy(x, torch.tensor(a["labels"].astype(np.int64)))
    loss.backward()
    close(a["loss"], loss.item())
    close(a["dx"], x.grad.numpy())
    close(a["p"], torch.softmax(x, 1).detach().numpy())
    close(a["dx"], (a["p"] - a["onehot"]) / 2)


def test_dropout_step_by_hand():
    a = run_step("dropout").arrays
    keep = np.random.default_rng(0).random((2, 4)) >= 0.5
    close(a["keep"], keep)
    close(a["y"], a["x"] * keep / 0.5)
    close(a["dx"], a["dout"] * keep / 0.5)


def test_batch_norm_step_against_torch():
    a = run_step("batch_norm").arrays
    x, gamma, beta = t64(a["x"]), t64(a["gamma"]), t64(a["beta"])
    rm, rv = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    y = TF.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5)
    y.backward(torch.tensor(a["dy"]))
    close(a["y"], y.detach().numpy())
    close(a["running_mean"], rm.numpy())
    close(a["running_var"], rv.numpy())
    close(a["dx"], x.grad.numpy())
    close(a["dgamma"], gamma.grad.numpy())
    close(a["dbeta"], beta.grad.numpy())
    x = t64(a["x"])
    y = TF.batch_norm(x, rm, rv, gamma.detach(), beta.detach(), training=False, eps=1e-5)
    y.backward(torch.tensor(a["dy"]))
    close(a["y eval"], y.detach().numpy())
    close(a["dx eval"], x.grad.numpy())


def test_lrn_step_against_torch():
    a = run_step("lrn").arrays
    # PyTorch's alpha multiplies the mean over the window: size times ours
    torch_check(a, lambda x: TF.local_response_norm(x.reshape(1, 4, 1, 1), 3, alpha=0.3,
                                                    beta=0.75, k=2.0).reshape(4),
                ["x"], "y", ["dx"], dout_label="dy")


def test_readme_links_the_docs_and_every_relative_link_exists():
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", text)
    assert {f"docs/ops/{page}.md" for page in OP_PAGES} <= set(targets)
    for target in targets:
        if "://" not in target:
            assert (REPO / target).exists(), f"README.md links to {target}, which does not exist"
    assert "mkdocs serve" in text
