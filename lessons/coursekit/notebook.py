"""Notebook helpers: reproducible resets, model diagrams with a checked text form, curves, claims, results, and the
two places where a lesson meets the backend: naming it, and gradients."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

RESULTS_ENV = "COURSE_RESULTS_FILE"  # set by `make course` for each lesson it runs
DIAGRAMS_ENV = "COURSE_DIAGRAMS_DIR"  # idem: where rendered diagrams are kept
BACKENDS = ("tensorflow", "jax")  # the Keras backends the course is tested on (make test BACKEND=...)


def reset(seed: int = 0) -> None:
    """Start a model from a clean slate: fresh auto-names (``dense``, ``dense_1``…) and seeded weights."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)


# --------------------------------------------------------------------------------------------------------------
# The backend


def show_backend() -> None:
    """Name the backend Keras runs on, as a quiet line of the cell's output (not the red box of standard error).

    The line is marked as true of this run only (``metadata.coursekit.unchecked``), and the notebook tests leave
    such outputs out of the comparison (``tests/conftest.py``), so a lesson's stored outputs are the same whichever
    backend runs it, and this line is where a reader sees which one does. The environment variable
    ``KERAS_BACKEND`` chooses (``tensorflow``, the default, or ``jax``), before Keras loads.
    """
    import keras

    from coursekit.check import UNCHECKED, show

    backend = keras.backend.backend()
    note = "" if backend in BACKENDS else f" (the course is tested on {' and '.join(BACKENDS)} only)"
    line = f"backend: {backend}{note}; KERAS_BACKEND chooses it before Keras loads"
    show({"text/plain": line, "text/html": f"<span style=\"color:#666\">{line}</span>"}, UNCHECKED)


def gradients(loss_fn: Callable[[], Any], variables: Sequence[Any]) -> list[Any]:
    """The gradient of the scalar ``loss_fn()`` with respect to each of ``variables`` (Keras variables, such as a
    layer's ``kernel``), as NumPy arrays of the variables' shapes.

    The one place where a lesson uses the backend's own automatic differentiation; everything else is
    ``keras.ops``. On TensorFlow, ``tf.GradientTape`` records ``loss_fn()``. On JAX, ``jax.grad`` differentiates a
    pure function of the variables' values: ``loss_fn()`` runs in a ``keras.StatelessScope`` that reads those
    values in place of the variables (a state update during the call, such as a ``BatchNormalization`` layer's
    moving mean in training mode, is discarded). A variable the loss does not depend on gets a zero gradient.
    """
    import keras
    import numpy as np

    variables = list(variables)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        def loss_of(values: list[Any]) -> Any:
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return loss_fn()

        grads = jax.grad(loss_of)([v.value for v in variables])
    else:
        raise NotImplementedError(f"coursekit.gradients supports the {' and '.join(BACKENDS)} backends, "
                                  f"not {backend}")
    from gradekit.evidence import to_numpy

    return [np.zeros(v.shape, dtype=v.dtype) if g is None else to_numpy(g)
            for v, g in zip(variables, grads)]


# --------------------------------------------------------------------------------------------------------------
# The text form of a graph


def _shape(tensor_or_shape: Any) -> str:
    shape = getattr(tensor_or_shape, "shape", tensor_or_shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _shapes(tensors: Sequence[Any]) -> str:
    return _shape(tensors[0]) if len(tensors) == 1 else "[" + ", ".join(_shape(t) for t in tensors) + "]"


def _model_nodes(model: keras.Model, operation: Any) -> list[Any]:
    """The calls (nodes) of ``operation`` that belong to ``model``'s graph, in call order."""
    from keras.src.ops.function import make_node_key

    keys = getattr(model, "_nodes", set())
    return [node for i, node in enumerate(operation._inbound_nodes) if make_node_key(operation, i) in keys]


def graph_text(model: keras.Model, expand_nested: bool = False, indent: str = "") -> str:
    """A canonical, machine-independent description of a model's graph.

    One line per call of a layer: its name, class, output shape and the layers that feed it. A layer called
    twice (a shared layer) gets a line per call. No Python object ids, so the text is the same on any machine.
    A subclassed model has no graph to read: its text lists the layers it holds, fed by its own ``call()``.
    """
    import keras

    if not _has_graph(model):
        return _subclassed_text(model, expand_nested, indent)
    inputs = ", ".join(t.name for t in model.inputs)
    outputs = ", ".join(t._keras_history.operation.name for t in model.outputs)
    lines = [f'{indent}Model "{model.name}" ({type(model).__name__}): inputs [{inputs}] -> outputs [{outputs}], '
             f"{model.count_params():,} parameters"]
    operations = getattr(model, "operations", None) or model.layers
    rows: list[tuple[str, str, str, str]] = []
    nested: list[keras.Model] = []
    for op in operations:
        nodes = _model_nodes(model, op) if not isinstance(model, keras.Sequential) else []
        kind = type(op).__name__
        if isinstance(op, keras.Model) and expand_nested:
            nested.append(op)
        if not nodes:  # Sequential models keep no per-model nodes: a stack, each fed by the one before
            prev = rows[-1][0] if rows else ", ".join(t.name for t in model.inputs)
            rows.append((op.name, kind, _shape(op.output) if hasattr(op, "output") else "?", prev))
            continue
        for node in nodes:
            parents = ", ".join(p.operation.name for p in node.parent_nodes) or "-"
            rows.append((op.name, kind, _shapes(node.output_tensors), parents))
    if isinstance(model, keras.Sequential) and model.inputs:
        first = model.inputs[0]
        rows.insert(0, (first.name, "InputLayer", _shape(first), "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)] if rows else [0, 0, 0]
    for name, kind, shape, parents in rows:
        lines.append(f"{indent}  {name:<{widths[0]}}  {kind:<{widths[1]}}  {shape:<{widths[2]}}  <- {parents}")
    for sub in nested:
        lines.append(graph_text(sub, expand_nested=True, indent=indent + "    "))
    return "\n".join(lines)


def _has_graph(model: keras.Model) -> bool:
    """A Sequential or functional model (a graph Keras can read), not a subclass of keras.Model with its own call."""
    import keras
    from keras.src.models.functional import Functional

    return isinstance(model, (keras.Sequential, Functional))


def _subclassed_text(model: keras.Model, expand_nested: bool, indent: str) -> str:
    """The text form of a subclassed model: no inputs, outputs or connections to read, only the layers it holds."""
    import keras

    size = f"{model.count_params():,} parameters" if model.built else "not built"
    lines = [f'{indent}Model "{model.name}" ({type(model).__name__}): subclassed, no graph: its call() uses '
             f"the layers below, {size}"]
    held = list(model.layers)
    widths = [max((len(x) for x in column), default=0) for column in
              ([layer.name for layer in held], [type(layer).__name__ for layer in held])]
    for layer in held:
        lines.append(f"{indent}  {layer.name:<{widths[0]}}  {type(layer).__name__:<{widths[1]}}  ?  <- call()")
    for layer in held:
        if expand_nested and isinstance(layer, keras.Model):
            lines.append(graph_text(layer, expand_nested=True, indent=indent + "    "))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Diagrams


def _diagram_png(model: keras.Model, expand_nested: bool, dpi: int) -> bytes | None:
    import keras

    try:
        dot = keras.utils.model_to_dot(
            model, show_shapes=True, show_dtype=False, show_layer_names=True, expand_nested=expand_nested, dpi=dpi
        )
        return dot.create(prog="dot", format="png")
    except (ImportError, OSError, FileNotFoundError) as error:
        print(f"(diagram not drawn: {error}. Install Graphviz, e.g. 'sudo apt-get install graphviz', "
              "to see it; the text form above is the same graph.)", file=sys.stderr)
        return None


def _side_by_side(pngs: list[bytes]) -> bytes:
    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    gap = 40
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    canvas = Image.new("RGB", (width, max(i.height for i in images)), "white")
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width + gap
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def show_model(*models: keras.Model, expand_nested: bool = False, dpi: int = 60) -> None:
    """Display the ``plot_model`` diagram of one or more models (side by side) with their graph text.

    The picture is for people; the ``text/plain`` part (``graph_text``) is what nbval checks, so a change in
    the graph fails the notebook test even though PNG bytes are never compared.
    """
    from IPython.display import display

    text = "\n\n".join(graph_text(m, expand_nested=expand_nested) for m in models)
    pngs = [p for p in (_diagram_png(m, expand_nested, dpi) for m in models) if p is not None]
    bundle: dict[str, Any] = {"text/plain": text}
    if len(pngs) == len(models):
        png = pngs[0] if len(pngs) == 1 else _side_by_side(pngs)
        bundle["image/png"] = png
        target = os.environ.get(DIAGRAMS_ENV)
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            Path(target, "+".join(m.name for m in models) + ".png").write_bytes(png)
    display(bundle, raw=True)


# --------------------------------------------------------------------------------------------------------------
# Curves, claims and results


def plot_history(
    history: Any,
    metrics: Iterable[str] = ("loss",),
    title: str | None = None,
    labels: Sequence[str] | None = None,
) -> None:
    """Plot training (solid) and validation (dashed) curves from one ``History`` or a list of them."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    histories = history if isinstance(history, (list, tuple)) else [history]
    labels = list(labels) if labels else [None] * len(histories)
    metrics = list(metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, (h, label) in enumerate(zip(histories, labels)):
            logs = h.history if hasattr(h, "history") else h
            color = f"C{i}"
            prefix = f"{label}: " if label else ""
            ax.plot(range(1, len(logs[metric]) + 1), logs[metric], color=color, label=f"{prefix}training")
            if f"val_{metric}" in logs:
                ax.plot(range(1, len(logs[metric]) + 1), logs[f"val_{metric}"], color=color, linestyle="--",
                        label=f"{prefix}validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers: no tick at 2.5
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()


class _EpochLog:
    """A Keras callback printing one line every ``every`` epochs (and the last): progress without a wall of logs."""

    def __new__(cls, every: int = 10):
        import keras

        class EpochLog(keras.callbacks.Callback):
            def __init__(self, every: int):
                super().__init__()
                self.every = every

            def on_epoch_end(self, epoch, logs=None):
                total = self.params.get("epochs", 0)
                if (epoch + 1) % self.every == 0 or epoch + 1 == total:
                    values = " - ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
                    print(f"epoch {epoch + 1}/{total} - {values}", flush=True)

        return EpochLog(every)


EpochLog = _EpochLog


def claim(condition: Any, message: str) -> None:
    """Assert what the lesson claims, and print the claim: a checked output that does not depend on the machine."""
    if not bool(condition):
        raise AssertionError(f"The lesson claims: {message}. This run does not show it.")
    print(f"✓ {message}")


def record_result(
    metric: str,
    value: float,
    baseline: str,
    baseline_value: float,
    note: str = "",
) -> None:
    """Hand the lesson's headline held-out metric, and its baseline's, to the results table of ``make course``.

    Prints nothing (the numbers differ a little between machines); outside ``make course`` it does nothing.
    """
    target = os.environ.get(RESULTS_ENV)
    if not target:
        return
    entry = {"metric": metric, "value": float(value), "baseline": baseline,
             "baseline_value": float(baseline_value), "note": note}
    path = Path(target)
    existing = json.loads(path.read_text()) if path.exists() else []
    existing.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(existing, indent=2))

