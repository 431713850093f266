"""The shared notebook helpers: graph text, diagrams, claims, results, progress."""

from __future__ import annotations

import json
import re
import sys

import keras
import pytest

import coursekit as ck
from coursekit import notebook
from gradekit.evidence import weight_arrays


def shared_and_nested() -> keras.Model:
    ck.reset()
    inp = keras.Input((8,), name="x")
    shared = keras.layers.Dense(8, name="shared")
    h = shared(shared(inp))
    inner = keras.Model(inp, keras.layers.Dense(2, name="inner_out")(h), name="inner")
    outer_in = keras.Input((8,), name="outer_x")
    return keras.Model(outer_in, keras.layers.Dense(1, name="head")(inner(outer_in)), name="outer")


def test_graph_text_lists_each_call_and_feeds():
    text = ck.graph_text(shared_and_nested().get_layer("inner"))
    assert text.splitlines()[0] == 'Model "inner" (Functional): inputs [x] -> outputs [inner_out], 90 parameters'
    rows = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[1:]]
    assert rows == [["x", "InputLayer", "(None, 8)", "<- -"],
                    ["shared", "Dense", "(None, 8)", "<- x"],
                    ["shared", "Dense", "(None, 8)", "<- shared"],
                    ["inner_out", "Dense", "(None, 2)", "<- shared"]]


def test_graph_text_is_machine_independent_and_expands_nested():
    first = ck.graph_text(shared_and_nested(), expand_nested=True)
    second = ck.graph_text(shared_and_nested(), expand_nested=True)
    assert first == second
    assert not re.search(r"0x[0-9a-f]{6,}|\d{9,}", first), "object ids must never reach the text"
    assert "\n    Model \"inner\"" in first and re.search(r"\n  inner +Functional", first)


def test_graph_text_of_sequential():
    ck.reset()
    model = keras.Sequential([keras.Input((4,), name="pixels"), keras.layers.Dense(3, name="a"),
                              keras.layers.Dense(2, name="b")], name="stack")
    lines = ck.graph_text(model).splitlines()
    assert lines[0] == 'Model "stack" (Sequential): inputs [pixels] -> outputs [b], 23 parameters'
    assert lines[-1].split() == ["b", "Dense", "(None,", "2)", "<-", "a"]


def test_graph_text_of_a_subclassed_model_lists_the_layers_it_holds():
    class Mine(keras.Model):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner, self.head = inner, keras.layers.Dense(2, name="head")

        def call(self, x):
            return self.head(self.inner(x))

    ck.reset()
    inp = keras.Input((4,), name="x")
    inner = keras.Model(inp, keras.layers.Dense(3, name="hidden")(inp), name="inner")
    model = Mine(inner, name="mine")
    assert ck.graph_text(model).splitlines()[0].endswith("subclassed, no graph: its call() uses the layers below, "
                                                          "not built")
    model(keras.ops.zeros((2, 4)))
    lines = ck.graph_text(model, expand_nested=True).splitlines()
    assert lines[0] == ('Model "mine" (Mine): subclassed, no graph: its call() uses the layers below, '
                        "23 parameters")
    assert [line.split() for line in lines[1:3]] == [["inner", "Functional", "?", "<-", "call()"],
                                                    ["head", "Dense", "?", "<-", "call()"]]
    assert lines[3] == '    Model "inner" (Functional): inputs [x] -> outputs [hidden], 15 parameters'


def test_show_model_displays_png_with_the_graph_text(monkeypatch, tmp_path):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw=False: shown.append(bundle))
    monkeypatch.setenv(notebook.DIAGRAMS_ENV, str(tmp_path))
    model = shared_and_nested()
    ck.show_model(model, model.get_layer("inner"))
    [bundle] = shown
    assert bundle["text/plain"] == ck.graph_text(model) + "\n\n" + ck.graph_text(model.get_layer("inner"))
    assert bundle["image/png"].startswith(b"\x89PNG")
    assert (tmp_path / "outer+inner.png").read_bytes() == bundle["image/png"]


def test_show_model_without_graphviz_keeps_the_text(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw=False: shown.append(bundle))
    monkeypatch.setenv("PATH", "/nonexistent")
    ck.show_model(shared_and_nested())
    assert list(shown[0]) == ["text/plain"]
    assert "Install Graphviz" in capsys.readouterr().err


def test_claim(capsys):
    ck.claim(1 < 2, "one is less than two")
    assert capsys.readouterr().out == "✓ one is less than two\n"
    with pytest.raises(AssertionError, match="The lesson claims: two is less than one"):
        ck.claim(2 < 1, "two is less than one")


def test_record_result(monkeypatch, tmp_path):
    ck.record_result("accuracy", 0.9, "chance", 0.1)  # outside make course: nothing happens
    target = tmp_path / "r.json"
    monkeypatch.setenv(notebook.RESULTS_ENV, str(target))
    ck.record_result("accuracy", 0.9, "chance", 0.1)
    ck.record_result("loss", 0.2, "constant", 0.5, note="lower is better")
    entries = json.loads(target.read_text())
    assert [e["metric"] for e in entries] == ["accuracy", "loss"] and entries[1]["note"] == "lower is better"


def test_epoch_log_prints_every_n_epochs(capsys):
    import numpy as np

    ck.reset()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=5, verbose=0, callbacks=[ck.EpochLog(every=2)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["epoch 2/5", "epoch 4/5", "epoch 5/5"]


def test_plot_history_draws_train_and_validation(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda: None)
    ck.plot_history({"loss": [3, 2, 1], "val_loss": [3, 2.5, 2]}, title="t")
    axes = plt.gcf().axes
    assert len(axes) == 1 and len(axes[0].lines) == 2
    plt.close("all")


def test_gradients_with_the_backends_own_differentiation():
    """ck.gradients, the one backend-specific helper, gives the analytic gradient on whichever backend runs."""
    import numpy as np

    ck.reset()
    layer = keras.layers.Dense(2, use_bias=True)
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], dtype="float32")
    layer.build((None, 3))
    unused = keras.Variable(np.ones((4,), "float32"), name="unused")

    def loss():
        return keras.ops.sum(keras.ops.square(layer(x)))

    kernel_grad, bias_grad, unused_grad = ck.gradients(loss, [layer.kernel, layer.bias, unused])
    kernel, bias = weight_arrays(layer)
    y = x @ kernel + bias
    np.testing.assert_allclose(kernel_grad, 2 * x.T @ y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias_grad, 2 * y.sum(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(unused_grad, np.zeros(4))
    assert isinstance(kernel_grad, np.ndarray) and kernel_grad.shape == (3, 2)


def test_show_backend_names_it_in_an_output_the_notebook_tests_leave_out(capsys, monkeypatch):
    module = sys.modules["coursekit.check"]  # coursekit.check is the function ck.check
    shown = []
    monkeypatch.setattr(module, "_shell", lambda: type("Kernel", (), {"kernel": object()})())
    monkeypatch.setattr("IPython.display.display", lambda data, **kw: shown.append((data, kw)))
    ck.show_backend()
    (data, kw), = shown
    assert f"backend: {keras.backend.backend()}" in data["text/plain"]
    assert kw["metadata"] == module.UNCHECKED  # tests/conftest.py leaves it out of nbval's comparison
    assert capsys.readouterr().err == ""  # not the red box of standard error
    assert module.unchecked({"output_type": "display_data", "data": data, "metadata": kw["metadata"]})
