"""The tutorials run as written: every code block of docs/tutorials/*.md and
docs/autograd.md is executed here, in order, in a temporary working folder.

Python blocks (```python ...```):
    - a block that the docs build runs (markdown-exec, ``exec="on"``) runs in the
      namespace of its ``session="..."``, or in a fresh namespace without one, exactly
      as markdown-exec runs it; an ``html="1"`` block must print HTML;
    - every other python block runs in the page's own namespace, in page order (what a
      reader who pastes the blocks one after another into Python gets);
    - a block whose first line is ``# not run: <reason>`` is not run (Keras code, a
      download); the reason is required, and such blocks are counted, not hidden.
Shell blocks (```bash / sh / shell / console```), line by line (``\\`` continues a line):
    - a ``minicnn ...`` line runs through the CLI of this interpreter
      (``python -m minicnn ...``) and must exit with status 0; leading ``NAME=value``
      words set environment variables for it (``MINICNN_BACKEND=numpy minicnn ...``);
    - any other command must carry ``# not run: <reason>`` (pip install, a full-MNIST
      run); an unmarked one fails the test, so nothing is skipped silently.
Other fences (text, output) are shown to the reader and not run.
"""
import contextlib
import io
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

import minicnn as mc

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted((DOCS / "tutorials").glob("*.md")) + [DOCS / "autograd.md"]
EXPECTED = {"tutorials/mnist.md", "tutorials/keras.md", "tutorials/custom_layer.md",
            "tutorials/property_tests.md", "tutorials/kernels.md", "autograd.md"}
PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell", "console"}
NOT_RUN = re.compile(r"#\s*not run:\s*(\S.*)$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class Block:
    def __init__(self, page, line, info, lines):
        self.page, self.line = page, line
        words = info.split()
        self.language = words[0].lower() if words else ""
        self.attrs = dict(ATTRIBUTE.findall(info))
        self.source = "\n".join(lines) + "\n"

    @property
    def where(self):
        return f"{self.page.relative_to(DOCS)} line {self.line}"

    @property
    def executed_by_docs(self):
        return _truthy(self.attrs.get("exec"))


def _truthy(value):
    """markdown-exec's reading of an option: true for any value but 0, no, off, false."""
    return value is not None and value.lower() not in ("0", "no", "off", "false")


def code_blocks(page, text=None):
    """The fenced blocks of a Markdown page (or of ``text``), in order (indented too)."""
    text = page.read_text(encoding="utf-8") if text is None else text
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = len(match["indent"]), match["fence"], match["info"]
        body, start = [], i + 1
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and
                                      set(lines[i].strip()) == set(fence[0])):
            line = lines[i]
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
            i += 1
        if i == len(lines):
            raise AssertionError(f"{page.relative_to(DOCS)} line {start}: unclosed code fence")
        blocks.append(Block(page, start, info, body))
        i += 1
    return blocks


def not_run_reason(text):
    match = NOT_RUN.search(text)
    return match[1].strip() if match else None


def shell_commands(block):
    """(line number, command) for every command line of a shell block."""
    commands, pending, first = [], "", None
    for offset, raw in enumerate(block.source.splitlines()):
        line = raw.rstrip()
        if first is None:
            first = block.line + 1 + offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        command, pending = (pending + line).strip(), ""
        if command and not command.startswith("#"):
            commands.append((first, command))
        first = None
    return commands


def run_python(block, namespace):
    """Run a python block; return what it printed.

    For a block the docs build runs, only what goes through ``print`` reaches the page
    (markdown-exec gives each block a ``print`` that writes into the page; output written
    to sys.stdout some other way, such as ``model.summary()``'s default ``print_fn``, is
    lost): the same ``print`` is given here, and a block with ``result`` or ``html`` must
    print something through it."""
    page_output, elsewhere = io.StringIO(), io.StringIO()
    code = compile(block.source, f"<{block.where}>", "exec")
    if block.executed_by_docs:
        namespace["print"] = lambda *args, end="\n", **kwargs: page_output.write(
            " ".join(str(a) for a in args) + end)
    with contextlib.redirect_stdout(elsewhere):
        exec(code, namespace)
    if not block.executed_by_docs:
        return elsewhere.getvalue()
    if "result" in block.attrs or _truthy(block.attrs.get("html")):
        assert page_output.getvalue().strip(), (
            f"{block.where}: the docs build would show nothing here: the block prints "
            f"nothing through print() (markdown-exec captures only print)")
    if _truthy(block.attrs.get("html")):
        assert "<" in page_output.getvalue(), f"{block.where}: an html block printed no HTML"
    return page_output.getvalue()


def run_shell(block, line, command):
    reason = not_run_reason(command)
    if reason:
        return "not run"
    words = shlex.split(command, comments=True)
    env = dict(os.environ)
    while words and ENV_ASSIGNMENT.match(words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if not words or words[0] != "minicnn":
        raise AssertionError(
            f"{block.page.relative_to(DOCS)} line {line}: `{command}` is neither a minicnn "
            f"command nor marked `# not run: <reason>`; the tests run every minicnn line and "
            f"need every other line marked")
    done = subprocess.run([sys.executable, "-m", "minicnn", *words[1:]], capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, (f"{block.page.relative_to(DOCS)} line {line}: `{command}` "
                                  f"exited with {done.returncode}\n{done.stdout}\n{done.stderr}")
    return "ran"


def test_every_tutorial_page_is_tested():
    found = {str(p.relative_to(DOCS)) for p in PAGES if p.exists()}
    assert EXPECTED <= found, f"missing pages: {sorted(EXPECTED - found)}"


def test_block_parser_and_markers():
    """The parser finds fences, attributes, continuation lines and not-run markers."""
    page = DOCS / "autograd.md"
    text = ('intro\n```python exec="on" session="s" html="1"\nprint(1)\n```\n'
            '~~~bash\nminicnn train lenet \\\n  --epochs 1\n# a comment\n'
            'pip install x  # not run: needs the network\n~~~\n```text\nminicnn no\n```\n')
    blocks = code_blocks(page, text)
    assert [b.language for b in blocks] == ["python", "bash", "text"]
    assert blocks[0].attrs == {"exec": "on", "session": "s", "html": "1"}
    assert blocks[0].executed_by_docs and not blocks[1].executed_by_docs
    commands = shell_commands(blocks[1])
    assert [c for _, c in commands] == ["minicnn train lenet    --epochs 1",
                                       "pip install x  # not run: needs the network"]
    assert not_run_reason(commands[1][1]) == "needs the network"
    assert not_run_reason("pip install x  # not run:") is None       # a reason is required
    with pytest.raises(AssertionError, match="neither a minicnn command"):
        run_shell(blocks[1], 9, "pip install x")
    with pytest.raises(AssertionError, match="neither a minicnn command"):
        run_shell(blocks[1], 9, "MINICNN_BACKEND=numpy python -m pytest")
    with pytest.raises(AssertionError, match="exited with 2"):       # minicnn lines do run
        run_shell(blocks[1], 9, "MINICNN_BACKEND=numpy minicnn no-such-command")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_runs_as_written(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # files the tutorial writes land here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    mc.layers.reset_names()
    page_namespace = {"__name__": "__tutorial__"}
    sessions = {}
    ran, not_run = 0, []
    with mc.use_backend(mc.get_backend()):      # a page's set_backend ends with the page
        for block in code_blocks(page):
            if block.language in PYTHON:
                reason = not_run_reason(block.source.lstrip().splitlines()[0]
                                        if block.source.strip() else "")
                if reason:
                    not_run.append((block.where, reason))
                    continue
                if block.executed_by_docs:
                    session = block.attrs.get("session")
                    namespace = (sessions.setdefault(session, {"__name__": "__tutorial__"})
                                 if session else {"__name__": "__tutorial__"})
                else:
                    namespace = page_namespace
                run_python(block, namespace)
                ran += 1
            elif block.language in SHELL:
                for line, command in shell_commands(block):
                    if run_shell(block, line, command) == "ran":
                        ran += 1
                    else:
                        not_run.append((f"{block.where}", not_run_reason(command)))
    assert ran > 0, f"{page.relative_to(DOCS)} has no code block that runs"
    print(f"{page.relative_to(DOCS)}: {ran} blocks/commands ran; not run (marked): {not_run}")


def test_a_pytorch_block_shows_its_stored_output_without_pytorch(tmp_path, monkeypatch):
    """custom_layer.md's PyTorch cross-check runs where torch is installed; a docs build
    without torch (the docs extra has none) prints the output stored beside the block and
    says so. The stored output is what the block prints with torch."""
    monkeypatch.chdir(tmp_path)
    blocks = [b for b in code_blocks(DOCS / "tutorials" / "custom_layer.md")
              if b.executed_by_docs]
    k = next(i for i, b in enumerate(blocks) if "STORED_OUTPUT" in b.source)
    assert all(b.attrs.get("session") == blocks[k].attrs.get("session") for b in blocks[:k])
    outputs = []
    for hide_torch in (False, True):
        namespace = {"__name__": "__tutorial__"}
        for block in blocks[:k]:
            run_python(block, namespace)
        with monkeypatch.context() as patch:
            if hide_torch:
                patch.setitem(sys.modules, "torch", None)      # import torch fails
            outputs.append(run_python(blocks[k], namespace))
    stored = namespace["STORED_OUTPUT"]
    assert outputs[0] == stored + "\n"
    assert outputs[1].startswith(stored + "\n(stored output: PyTorch is not installed")
