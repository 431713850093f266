"""Functions a grader may hand to a submission (for example a block for a builder to call).

A grader cannot hand over its own Python function (it would run in the worker, where the submission could change
what it records), so the functions that may cross are listed here, by name, on both sides. They leave their trace
in the graph instead: every layer a block builds is named after the call (``spy_007_f8_down_conv1``: the 7th call,
8 filters, downsampling), and :func:`block_calls` reads the calls back from the rebuilt model.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Callable

_COUNTER = itertools.count()
_NAME = re.compile(r"^spy_(\d+)_f(\d+)_(down|keep)_conv1$")


def residual_spy_block(x: Any, filters: int, downsample: bool = False) -> Any:
    """A reference residual block whose layer names record how it was called."""
    import keras

    layers = keras.layers
    tag = f"spy_{next(_COUNTER):03d}_f{int(filters)}_{'down' if downsample else 'keep'}"
    strides = 2 if downsample else 1
    y = layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu", name=f"{tag}_conv1")(x)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{tag}_conv2")(y)
    if downsample or x.shape[-1] != filters:
        x = layers.Conv2D(filters, 1, strides=strides, name=f"{tag}_projection")(x)
    return layers.Activation("relu", name=f"{tag}_out")(layers.add([y, x], name=f"{tag}_add"))


def block_calls(model: Any) -> list[tuple[int, bool, tuple]]:
    """The calls of :func:`residual_spy_block` that built ``model``, in order: (filters, downsample, input shape)."""
    found = []
    for layer in model.layers:
        match = _NAME.match(layer.name)
        if match:
            shape = tuple(layer.input.shape) if layer._inbound_nodes else ()
            found.append((int(match.group(1)), int(match.group(2)), match.group(3) == "down", shape))
    return [(f, d, s) for _, f, d, s in sorted(found)]


SHAREABLE: dict[str, Callable] = {"residual_spy_block": residual_spy_block}
