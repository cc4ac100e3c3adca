"""minicnn.plot — pictures of models and training (the ``plot`` extra: matplotlib).

matplotlib is imported only when a picture is drawn (Agg backend, files only), so
``import minicnn`` works without it; without it a plot function raises an ImportError
that says ``pip install 'minicnn[plot]'``. Every function takes ``path`` (str, Path or
a binary file object such as io.BytesIO) and returns what it wrote to.

    autograd_graph(tensor, path)   the graph of Functions and Tensors behind a tensor

``draw_autograd_graph(tensor)`` returns the matplotlib Figure instead of saving it.
"""
from .graph import autograd_graph, draw_autograd_graph
