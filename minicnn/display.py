"""Reports in a Jupyter notebook: ``model.summary()`` and ``model.explain(x)`` show their
tables as preformatted text that scrolls sideways instead of wrapping, and once.

    show(text)      print(text); in Jupyter, a <pre> block (text/plain too, for other
                    front ends)
    Report(text)    a str that Jupyter shows as the text it holds (not as a quoted string
                    with \\n), or not at all when it was printed already

Nothing here imports IPython: without a running IPython kernel, show() is print().
"""
import html
import sys


def in_notebook():
    """True inside a Jupyter kernel (IPython's ZMQ shell), False in a terminal or script."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def rich(text):
    """The MIME bundle of a text report: plain text, and HTML that keeps the columns."""
    return {"text/plain": text,
            "text/html": '<pre style="white-space: pre; overflow-x: auto; line-height: 1.25">'
                         f"{html.escape(text)}</pre>"}


def show(text):
    """Print ``text``: in Jupyter as one preformatted block, elsewhere with print()."""
    if in_notebook():
        from IPython.display import display
        display(rich(text), raw=True)
    else:
        print(text)


class Report(str):
    """The text of a report, as a str. ``printed``: it was shown already, so Jupyter shows
    nothing more when a cell ends with the call that returned it (as for Keras' summary)."""
    printed = False

    def _ipython_display_(self):
        if not self.printed:
            from IPython.display import display
            display(rich(str(self)), raw=True)
