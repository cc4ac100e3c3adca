"""The autograd graph of a Tensor, drawn top to bottom in the forward direction.

    loss = F.cross_entropy(model(x), y)
    minicnn.plot.autograd_graph(loss, "graph.png")

Nodes are the Tensors and Functions that produced ``loss`` (what ``loss.backward()``
walks, see minicnn/tensor.py), read from ``t.creator`` and ``fn.inputs``:

    box, blue     a parameter (a leaf that requires grad), named by its layer ("dense/kernel")
    box, grey     an input that needs no gradient (the data batch, a constant)
    box, white    an intermediate tensor; the tensor drawn is bold and green
    rounded box   a Function (op), with the layer it ran in

Every label carries the tensor's shape. Arrows point the way the forward pass ran;
``backward`` walks them in reverse.

The layout is computed here (no graphviz): the layered drawing of Sugiyama et al. (1981),
kept small.

    1. rank:   a node's row is one below its lowest-placed input (longest path from the
               leaves); a leaf sits one row above the first op that reads it, beside the
               tensor that op also reads
    2. dummies: an edge that skips rows gets a bend point in every row it crosses
    3. order:  rows are sorted by the mean position of their neighbours (barycentres),
               sweeping down and up a few times, which untangles most crossings
    4. place:  each node goes to its barycentre, then rows are pushed apart so labels
               never overlap

The tensor drawn must have been computed with recording on (some input had
``requires_grad=True``, outside ``no_grad()``).
"""

from ..tensor import Tensor, topological_order
from ._figure import pyplot, save

FONT_SIZE = 9
ROW_HEIGHT = 0.62          # inches between rows
GAP = 0.25                 # inches between neighbouring labels in a row
CHAR_WIDTH = FONT_SIZE * 0.62 / 72    # inches per character of the label font (estimate)

COLORS = {"parameter": "#cfe2f3", "constant": "#e6e6e6", "tensor": "#ffffff",
          "root": "#d9ead3", "function": "#fce5cd"}
EDGE_COLORS = {"parameter": "#3d6fa8", "constant": "#777777", "tensor": "#555555",
               "root": "#38761d", "function": "#b45f06"}


class Node:
    """One node of the drawing: a Tensor, a Function, or a bend point of a long edge."""

    def __init__(self, kind, label, obj=None):
        self.kind, self.label, self.obj = kind, label, obj
        self.rank = 0
        self.x = 0.0
        self.input_slot = 0      # for a leaf: its position among its first consumer's inputs
        self.width = _text_width(label) if label else 0.0

    def __repr__(self):
        return f"Node({self.kind!r}, {self.label!r}, rank={self.rank})"


class AutogradGraph:
    """The Tensors and Functions behind a tensor, with forward-direction edges.

    AutogradGraph(tensor)
        .nodes      every Node (tensors and functions; no bend points)
        .edges      (source Node, target Node) pairs: input -> Function -> output.
                    An input used twice by one op (x * x) gives two edges.
        .tensors, .functions   the Nodes of each kind
    """

    def __init__(self, tensor):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"autograd_graph: expected a minicnn Tensor (the output of a "
                            f"forward pass, e.g. the loss), got {type(tensor).__name__}")
        if not tensor.requires_grad:
            raise ValueError("autograd_graph: this tensor has no autograd graph: none of its "
                             "inputs had requires_grad=True, or it was computed under "
                             "no_grad(). Compute it with recording on (model parameters "
                             "require grad; mc.Tensor(x, requires_grad=True) for an input)")
        self.root = tensor
        by_id, self.edges = {}, []

        def tensor_node(t):
            if id(t) not in by_id:
                by_id[id(t)] = Node(_tensor_kind(t, tensor), _tensor_label(t, tensor), t)
            return by_id[id(t)]

        for t in topological_order(tensor):          # inputs before outputs
            fn = t.creator
            if fn is None:
                if t is tensor:                      # a leaf drawn on its own
                    tensor_node(t)
                continue
            inputs = [tensor_node(x) for x in fn.inputs if x is not None]   # in input order
            for slot, node in enumerate(inputs):
                if node.obj.creator is None and not node.input_slot:
                    node.input_slot = slot
            op = by_id[id(fn)] = Node("function", _function_label(fn), fn)
            self.edges += [(x, op) for x in inputs]
            self.edges.append((op, tensor_node(t)))
        self.nodes = list(by_id.values())
        self.tensors = [n for n in self.nodes if n.kind != "function"]
        self.functions = [n for n in self.nodes if n.kind == "function"]


def _tensor_kind(t, root):
    if t is root:
        return "root"
    if t.creator is not None:
        return "tensor"
    return "parameter" if t.requires_grad else "constant"


def _shape(shape):
    return "(" + ", ".join(str(n) for n in shape) + (",)" if len(shape) == 1 else ")")


def _tensor_label(t, root=None):
    shape = _shape(t.shape)
    if t is root and t.size == 1:
        shape += f" = {float(t.data.reshape(-1)[0]):.4g}"
    if t.name:
        return f"{t.name}\n{shape}"
    if t.creator is None:
        return f"{'leaf' if t.requires_grad else 'input, no grad'}\n{shape}"
    return shape


def _function_label(fn):
    layer = getattr(fn, "layer", None)
    return f"{fn.name}\nin {layer}" if layer else fn.name


def _text_width(label):
    return max(len(line) for line in label.split("\n")) * CHAR_WIDTH + 0.3


# ----------------------------------------------------------------------------- layout
def layout(graph):
    """Give every node of ``graph`` a row (.rank) and a position in inches (.x).

    Returns (rows, segments): rows[r] lists the Nodes of row r from left to right (bend
    points included); segments lists each edge as a chain of Nodes from source to target.
    """
    predecessors = {id(n): [] for n in graph.nodes}
    successors = {id(n): [] for n in graph.nodes}
    for a, b in graph.edges:
        predecessors[id(b)].append(a)
        successors[id(a)].append(b)
    # 1. ranks: longest path from the sources, in topological order of the nodes
    order = _topological(graph.nodes, predecessors)
    for n in order:
        n.rank = max((p.rank + 1 for p in predecessors[id(n)]), default=0)
    for n in order:            # leaves move down to just above their first consumer
        if not predecessors[id(n)] and successors[id(n)]:
            n.rank = min(s.rank for s in successors[id(n)]) - 1
    # 2. bend points on edges that skip rows
    segments = []
    for a, b in graph.edges:
        chain = [a]
        for r in range(a.rank + 1, b.rank):
            bend = Node("bend", "")
            bend.rank = r
            chain.append(bend)
        segments.append(chain + [b])
    rows = {}
    for n in graph.nodes + [p for chain in segments for p in chain[1:-1]]:
        rows.setdefault(n.rank, []).append(n)
    rows = [rows.get(r, []) for r in range(max(rows) + 1)]
    up, down = {}, {}            # neighbours in the row above / below, with bends
    for chain in segments:
        for a, b in zip(chain, chain[1:]):
            down.setdefault(id(a), []).append(b)
            up.setdefault(id(b), []).append(a)
    # 3. order within rows: barycentre sweeps (start from the forward order of discovery)
    for row in rows:
        _place(row, [None] * len(row))
    for _ in range(4):
        for row in rows:
            _reorder(row, up, down)
        for row in reversed(rows[:-1]):
            _reorder(row, down)
    # 4. final positions: each row towards its neighbours above, then below, then above
    for neighbours, sweep in ((up, rows[1:]), (down, list(reversed(rows[:-1]))),
                              (up, rows[1:])):
        for row in sweep:
            _place(row, [_barycentre(n, neighbours) for n in row])
    left = min(n.x - n.width / 2 for row in rows for n in row)
    for row in rows:
        for n in row:
            n.x -= left
    return rows, segments


def _topological(nodes, predecessors):
    placed, order = set(), []
    pending = list(nodes)
    while pending:
        rest = []
        for n in pending:
            if all(id(p) in placed for p in predecessors[id(n)]):
                placed.add(id(n))
                order.append(n)
            else:
                rest.append(n)
        pending = rest
    return order


def _barycentre(node, neighbours):
    xs = [m.x for m in neighbours.get(id(node), [])]
    return sum(xs) / len(xs) if xs else None


def _reorder(row, neighbours, below=None):
    """Sort a row by the barycentres of its neighbours. With ``below``, a node without
    neighbours (a leaf) goes by the op it feeds: its first input straight above it, the
    second to its left, the third to its right, ... so a layer's data, kernel and bias
    always read kernel, data, bias."""
    keys = []
    for n in row:
        key = _barycentre(n, neighbours)
        if key is None and below is not None and below.get(id(n)):
            slot = n.input_slot
            key = _barycentre(n, below) + 0.01 * ((slot + 1) // 2) * (1 if slot % 2 == 0 else -1)
        keys.append(n.x if key is None else key)
    row[:] = [n for _, _, n in sorted(zip(keys, range(len(row)), row), key=lambda t: t[:2])]
    _place(row, [None] * len(row))


def _place(row, wanted):
    """Positions for the nodes of ``row`` (kept in this order): as close to ``wanted``
    (None: wherever) as possible while neighbouring labels stay GAP apart."""
    width = lambda n: max(n.width, 0.05)
    if all(w is None for w in wanted):        # evenly spaced, centred on 0
        x = 0.0
        for n in row:
            n.x = x + width(n) / 2
            x += width(n) + GAP
        shift = (x - GAP) / 2
        for n in row:
            n.x -= shift
        return
    known = [w for w in wanted if w is not None]
    fill = sum(known) / len(known)
    targets = [fill if w is None else w for w in wanted]
    xs = list(targets)
    for i in range(1, len(row)):                 # push right where too close
        least = xs[i - 1] + (width(row[i - 1]) + width(row[i])) / 2 + GAP
        xs[i] = max(xs[i], least)
    shift = (sum(targets) - sum(xs)) / len(xs)   # then centre the row on its targets
    for n, x in zip(row, xs):
        n.x = x + shift


# ----------------------------------------------------------------------------- drawing
def draw(graph, title=None):
    """A matplotlib Figure of ``graph`` (an AutogradGraph); see ``autograd_graph``."""
    plt = pyplot()
    rows, segments = layout(graph)
    width = max(n.x + n.width / 2 for row in rows for n in row) + 0.4
    height = len(rows) * ROW_HEIGHT + 1.2
    fig = plt.figure(figsize=(max(width, 6.0), height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.2 - max(0.0, (6.0 - width) / 2), max(width, 6.0) - 0.2 - max(0.0, (6.0 - width) / 2))
    ax.set_ylim(-(len(rows) - 1) * ROW_HEIGHT - 0.9, 0.3 + (0.4 if title else 0.1))
    ax.axis("off")
    y = lambda n: -n.rank * ROW_HEIGHT
    boxes = {}
    for n in graph.nodes:
        style = "round,pad=0.3" if n.kind == "function" else "square,pad=0.3"
        bold = n.kind == "root"
        text = ax.text(n.x, y(n), n.label, ha="center", va="center", fontsize=FONT_SIZE,
                       fontweight="bold" if bold else "normal", zorder=3,
                       bbox=dict(boxstyle=style, facecolor=COLORS[n.kind],
                                 edgecolor=EDGE_COLORS[n.kind], linewidth=1.6 if bold else 1))
        if n.kind == "function":
            text.get_bbox_patch().set_boxstyle("round,pad=0.3,rounding_size=0.8")
        text.minicnn_node = n                   # lets the tests find the node of a label
        boxes[id(n)] = text
    fig.canvas.draw()                            # sizes the label boxes
    to_data = ax.transData.inverted()
    half = {}                                    # node -> half width, half height (inches)
    for key, text in boxes.items():
        (x0, y0), (x1, y1) = to_data.transform(text.get_bbox_patch().get_window_extent())
        half[key] = ((x1 - x0) / 2, (y1 - y0) / 2)
    repeats = {}
    for chain in segments:
        key = (id(chain[0]), id(chain[-1]))
        repeats[key] = repeats.get(key, 0) + 1
        points = [(n.x, y(n)) for n in chain]
        points[0] = _border(points[0], half[id(chain[0])], points[1])
        points[-1] = _border(points[-1], half[id(chain[-1])], points[-2])
        if repeats[key] > 1:                     # an input used twice (x * x): side by side
            shift = 0.14 * (repeats[key] - 1)
            points = [(px + shift, py) for px, py in points]
        if len(points) > 2:
            xs, ys = zip(*points[:-1])
            ax.plot(xs, ys, color="#555555", linewidth=1, zorder=1)
        ax.annotate("", xy=points[-1], xytext=points[-2], zorder=2,
                    arrowprops=dict(arrowstyle="-|>,head_length=0.5,head_width=0.25",
                                    color="#555555", linewidth=1, shrinkA=0, shrinkB=0))
    kinds = [("parameter", "parameter (requires grad)"), ("constant", "input, no grad"),
             ("tensor", "intermediate tensor"), ("function", "op (Function)"),
             ("root", "the tensor drawn")]
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=COLORS[k], edgecolor=EDGE_COLORS[k])
               for k, _ in kinds]
    fig.legend(handles, [label for _, label in kinds], loc="lower center", ncol=3,
               fontsize=FONT_SIZE - 1, frameon=False)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 2, y=1.0, pad=-14)
    return fig


def _border(center, half, towards):
    """The point where the line from ``center`` to ``towards`` leaves the box of half
    sizes ``half`` around ``center``."""
    (cx, cy), (w, h), (tx, ty) = center, half, towards
    dx, dy = tx - cx, ty - cy
    if dx == dy == 0:
        return center
    scale = min(w / abs(dx) if dx else float("inf"), h / abs(dy) if dy else float("inf"))
    return cx + dx * scale, cy + dy * scale


def draw_autograd_graph(tensor, title=None):
    """The matplotlib Figure that ``autograd_graph`` saves (for notebooks and tests)."""
    return draw(AutogradGraph(tensor), title)


def autograd_graph(tensor, path, title=None):
    """Draw the graph of Functions and Tensors that produced ``tensor`` and write a PNG.

    tensor  a Tensor computed with recording on (e.g. a loss before ``backward``)
    path    str, Path, or a binary file object (io.BytesIO); written atomically
    title   optional text above the graph

    Returns ``path``. Parameters are named by their layer ("conv2d/kernel"), ops by the
    layer they ran in, and every tensor shows its shape.
    """
    return save(draw_autograd_graph(tensor, title), path, dpi=110)
