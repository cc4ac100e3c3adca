"""The main job's result, quoted by the docs from one place: docs/main_job.json.

`minicnn train lenet` (the README's first command) ends with the line

    held-out accuracy: 97.30% (loss 0.0832) on 1000 images; trained in 18.2s

This script runs that command and records the line in docs/main_job.json; a page writes
``{{ main_job.accuracy }}``, ``{{ main_job.loss }}``, ``{{ main_job.seconds }}`` or
``{{ main_job.line }}`` where it quotes it, and the docs build (docs/hooks.py) and the
notebooks (docs/notebooks.py) put the recorded figure there. tests/test_main_job.py runs
the command again and fails if it no longer prints the recorded figure: then run

    python docs/main_job.py            # about half a minute on 2 cores, compiling included

and commit docs/main_job.json. The figure is the same run after run on one machine; another
CPU may print one a few hundredths away (the kernels' vectorised sums follow the CPU's
vector width), which the test allows.
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

RECORD = Path(__file__).resolve().parent / "main_job.json"
COMMAND = ["minicnn", "train", "lenet"]
RESULT = re.compile(r"^held-out accuracy: (?P<accuracy>[\d.]+)% \(loss (?P<loss>[\d.]+)\) on "
                    r"(?P<images>\d+) images; trained in (?P<seconds>[\d.]+)s$", re.MULTILINE)
PLACEHOLDER = re.compile(r"\{\{\s*main_job\.(\w+)\s*\}\}")


def run(out_dir):
    """Run the main job with this Python, its output in ``out_dir``; returns the figures
    of its result line and the backend it ran on."""
    done = subprocess.run([sys.executable, "-m", "minicnn", *COMMAND[1:], "--out", str(out_dir)],
                          capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(COMMAND)} failed ({done.returncode}):\n{done.stderr}")
    match = RESULT.search(done.stdout)
    if match is None:
        raise RuntimeError(f"{' '.join(COMMAND)} printed no result line:\n{done.stdout}")
    backend = json.loads((Path(out_dir) / "metrics.json").read_text())["backend"]
    return dict(line=match[0], accuracy=f"{match['accuracy']}%", loss=match["loss"],
                images=int(match["images"]), seconds=f"{match['seconds']} s", backend=backend)


def cpu_name():
    """The CPU's model name (Linux's /proc/cpuinfo), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def record():
    """Run the main job and write docs/main_job.json."""
    with tempfile.TemporaryDirectory() as out:
        figures = run(out)
    figures.update(command=" ".join(COMMAND), cores=os.cpu_count(), cpu=cpu_name(),
                   python=platform.python_version(),
                   date=datetime.date.today().isoformat())
    RECORD.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def recorded():
    """The figures in docs/main_job.json."""
    return json.loads(RECORD.read_text())


def substitute(markdown, where="a page"):
    """``markdown`` with every ``{{ main_job.NAME }}`` replaced by the recorded figure."""
    figures = recorded()

    def figure(match):
        if match[1] not in figures:
            raise ValueError(f"{where}: {match[0]}: docs/main_job.json records no "
                             f"{match[1]!r} (it has {', '.join(sorted(figures))})")
        return str(figures[match[1]])
    return PLACEHOLDER.sub(figure, markdown)


if __name__ == "__main__":
    print(json.dumps(record(), indent=2))
