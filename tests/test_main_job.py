"""The main job's figure that the docs quote (docs/main_job.json, written by
docs/main_job.py) is what `minicnn train lenet` prints today."""
import importlib.util
import os
import re
from pathlib import Path

import pytest

import minicnn as mc

DOCS = Path(__file__).resolve().parent.parent / "docs"
spec = importlib.util.spec_from_file_location("docs_main_job", DOCS / "main_job.py")
main_job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(main_job)
RECORDED = main_job.recorded()


def test_the_pages_quote_the_main_job_only_through_the_record():
    """No page writes the figure by hand: every quote is a {{ main_job.* }} placeholder."""
    recorded = main_job.recorded()
    quoted = 0
    for page in sorted(DOCS.rglob("*.md")) + [DOCS.parent / "README.md"]:
        text = page.read_text()
        quoted += len(main_job.PLACEHOLDER.findall(text))
        main_job.substitute(text, page.name)                   # every name is recorded
        assert recorded["accuracy"] not in text.replace(" ", ""), page
        assert not re.search(r"held-out accuracy: \d", text), page
    assert quoted >= 4


@pytest.mark.skipif(mc.get_backend() != RECORDED["backend"], reason="the figure is recorded on the default backend; the README's first "
                           "pytest run (default backend) checks it")
def test_the_recorded_figure_is_what_the_command_prints(tmp_path):
    """The run is deterministic on one machine, but the kernels' vectorised sums add in an
    order that follows the CPU's vector width (AVX2 or AVX-512), so another CPU of this
    kind prints a figure a few hundredths away: the check allows that much (0.5 points of
    accuracy, 0.003 of loss), far less than any change to the training would move it."""
    figures = main_job.run(tmp_path)
    recorded = main_job.recorded()
    accuracy = float(figures["accuracy"].rstrip("%")), float(recorded["accuracy"].rstrip("%"))
    loss = float(figures["loss"]), float(recorded["loss"])
    assert figures["backend"] == recorded["backend"] and abs(accuracy[0] - accuracy[1]) <= 0.5 \
        and abs(loss[0] - loss[1]) <= 0.003, (
        f"`minicnn train lenet` now prints {figures['line']!r}, but docs/main_job.json "
        f"records {recorded['line']!r}: run `python docs/main_job.py` and commit "
        f"docs/main_job.json")
