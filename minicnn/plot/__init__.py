"""Pictures of what a CNN computes and learns (the ``plot`` extra: matplotlib).

    import minicnn.plot as plot
    plot.training_curves(history, "curves.png")            # loss and accuracy per epoch
    plot.filters(model, "filters.png")                     # first Conv2D layer's kernels
    plot.feature_maps(model, x_test[0], "features.png")    # every conv layer's output
    plot.confusion_matrix(y_test, predicted, "confusion.png", class_names)
    plot.misclassified(model, x_test, y_test, "mistakes.png")
    plot.im2col_unrolling("im2col.png")                    # 1x4x4 input, 2x2 kernel
    plot.autograd_graph(loss, "graph.png")                 # the ops behind a tensor

Every function takes ``path`` (a file name, written atomically, or a binary file object
such as io.BytesIO) and returns it. The same pictures from the command line:
``minicnn plot curves|filters|features|confusion|misclassified|im2col``.

matplotlib is imported when a picture is drawn (Agg backend, no window), so importing
this package works without it; drawing without it raises an ImportError that says
``pip install 'minicnn[plot]'``. The ``draw_*`` functions return the matplotlib Figure
instead of saving it (for notebooks and tests).
"""
from ._figure import html_img
from .curves import draw_training_curves, read_history, training_curves
from .evaluation import (confusion_counts, confusion_matrix, draw_confusion_matrix,
                         draw_misclassified, find_misclassified, misclassified)
from .features import conv_outputs, draw_feature_maps, feature_maps
from .graph import autograd_graph, draw_autograd_graph
from .unrolling import draw_im2col_unrolling, im2col_matrix, im2col_unrolling
from .weights import draw_filters, filters

__all__ = ["training_curves", "filters", "feature_maps", "confusion_matrix", "misclassified",
           "im2col_unrolling", "html_img", "read_history", "confusion_counts",
           "find_misclassified", "conv_outputs", "im2col_matrix", "draw_training_curves",
           "draw_filters", "draw_feature_maps", "draw_confusion_matrix", "draw_misclassified",
           "draw_im2col_unrolling", "autograd_graph", "draw_autograd_graph"]
