"""Grader for lesson 02 — multi-input models (21 points).

``build_qa_model`` is built at the classic sizes and at small ones, and its graph is read back: the two inputs,
each one's own ``Embedding`` → ``LSTM`` branch, the concatenation, the softmax; a padding test checks the masks.
``build_headline_model`` is read the same way (where the auxiliary output taps the graph, the main path), and its
compiled losses and loss weights are read per output name, whether they were given as a list or a dict. Graphs are
read through nested models: a branch written as a nested Sequential reads as the layers in it.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np

from gradekit.harness import (
    GradeFailure,
    Graph,
    Submission,
    activation_name,
    activation_step,
    compiled_losses,
    composed_activation,
    expect_inputs,
    expect_losses,
    expect_optimizer,
    expect_outputs,
    fit,
    fresh_session,
    graded,
    run_rng,
    to_numpy,
)

QA = "build_qa_model"
HEADLINE = "build_headline_model"
SKIPPED = {"Dropout"}  # layers a path may pass through without changing what it computes
ACTIVATION_LAYERS = {"Activation", "Softmax", "ReLU", "LeakyReLU", "ELU", "PReLU"}
# the short fits of the hidden "learns" tests: (examples, epochs, batch size), with margins measured over many draws;
# the loss is read from the fit's history (its first epoch against its last: one traced training function, no
# evaluation)
QA_FIT, HEADLINE_FIT = (128, 4, 16), (128, 6, 8)


# ------------------------------------------------------------------------------------------------ reading graphs


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def graph_of(model: keras.Model) -> Graph:
    """The model's graph read through nested models (:class:`gradekit.harness.Graph`: a branch written as a nested
    Sequential reads as its layers), read once per model."""
    if model not in _GRAPHS:
        _GRAPHS[model] = Graph.of(model)
    return _GRAPHS[model]


def layers_of(model: keras.Model) -> list[Any]:
    """Every layer the model calls, inside nested models too (each once; ops such as the masks' NotEqual left
    out)."""
    return [layer for layer in graph_of(model).layers if isinstance(layer, keras.layers.Layer)]


def called_more_than_once(model: keras.Model) -> list[Any]:
    return [layer for layer in layers_of(model) if len(graph_of(model).calls_of(layer)) > 1]


def feeders(model: keras.Model, layer: Any) -> list[Any]:
    """The layers feeding ``layer``'s (first) call in ``model``, read through nested models; mask operations
    (``NotEqual``) are left out."""
    calls = graph_of(model).parents(layer)
    return [p for p in calls[0] if isinstance(p, keras.layers.Layer)] if calls else []


def back(model: keras.Model, layer: Any) -> Any:
    """The single layer feeding ``layer``, skipping Dropout; None where there is not exactly one."""
    found = feeders(model, layer)
    while len(found) == 1 and type(found[0]).__name__ in SKIPPED:
        found = feeders(model, found[0])
    return found[0] if len(found) == 1 else None


def head(model: keras.Model, layer: Any) -> tuple[Any, str]:
    """For a layer that ends a Dense: the Dense and the activation it ends with, activation layers after it folded
    in (Dropout between them skipped): ``Dense(1, activation='sigmoid')`` and ``Dense(1)`` +
    ``Activation('sigmoid')`` both read 'sigmoid', ``Dense(64, activation='relu')`` + ``Activation('sigmoid')``
    reads 'relu then sigmoid'. The activation reads '?' where no Dense is found."""
    after: list[str] = []
    while layer is not None and activation_step(layer) is not None:
        after.insert(0, activation_step(layer))
        layer = back(model, layer)
    if type(layer).__name__ != "Dense":
        return layer, "?"
    return layer, composed_activation([activation_name(layer)] + after)


def output_layer(model: keras.Model, name: str) -> Any:
    """The layer that makes the output ``name`` (inside the nested model of that name, if one returns it)."""
    return graph_of(model).output(model, name).layer


def describe(layer: Any) -> str:
    kind = type(layer).__name__ if layer is not None else "nothing"
    if kind == "Embedding":
        return f"Embedding({layer.input_dim}, {layer.output_dim})"
    if kind == "LSTM":
        return f"LSTM({layer.units})"
    if kind == "Dense":
        return f"Dense({layer.units}, {activation_name(layer)})"
    return f"'{layer.name}' ({kind})" if layer is not None else "nothing (or several layers)"


# ------------------------------------------------------------------------------------------------ exercise 1


def _qa(submission: Submission, *args: Any, shared: bool = False) -> keras.Model:
    """The submission's model; ``shared``: the one rebuilt model the tests that only read it share
    (:meth:`Submission.shared_model`), else a model of the test's own (to compile or train)."""
    fresh_session()
    return submission.shared_model(QA, *args) if shared else submission.model(QA, *args)


def _branch(model: keras.Model, input_name: str) -> tuple[Any, Any]:
    """(Embedding, LSTM) of the branch that reads the input ``input_name``, found from the LSTMs of the model."""
    for lstm in (layer for layer in layers_of(model) if type(layer).__name__ == "LSTM"):
        embedding = back(model, lstm)
        if type(embedding).__name__ == "Embedding":
            source = back(model, embedding)
            if source is not None and source.name == input_name:
                return embedding, lstm
    shared = [layer.name for layer in called_more_than_once(model)]
    if shared:
        raise GradeFailure(f"{QA}: the two inputs share {', '.join(repr(n) for n in shared)}; each input needs its "
                           "own Embedding and LSTM.")
    raise GradeFailure(f"{QA}: no Embedding → LSTM branch starts at the input '{input_name}'; give each input its "
                       "own Embedding, then an LSTM on the embedded sequence.")


def _expect_branches(model: keras.Model, sizes: dict[str, tuple[int, int, int]]) -> None:
    found = {}
    for name, (vocabulary, dim, units) in sizes.items():
        embedding, lstm = _branch(model, name)
        found[name] = (embedding, lstm)
        if (embedding.input_dim, embedding.output_dim) != (vocabulary, dim):
            hint = (" The arguments are swapped: Embedding takes the vocabulary size first."
                    if (embedding.input_dim, embedding.output_dim) == (dim, vocabulary) else "")
            raise GradeFailure(f"{QA}: the '{name}' branch should embed with Embedding({vocabulary}, {dim}), it has "
                               f"{describe(embedding)}.{hint}")
        if lstm.units != units:
            raise GradeFailure(f"{QA}: the '{name}' branch should have LSTM({units}), it has LSTM({lstm.units}).")
    (e1, l1), (e2, l2) = found.values()
    if e1 is e2 or l1 is l2:
        raise GradeFailure(f"{QA}: the two inputs share a layer; each input needs its own Embedding and LSTM.")


@graded(QA, 1)
def test_qa_inputs(submission):
    """Exercise 1: two inputs, 'text' and 'question', of word indices of any length: shape (None, None), int32."""
    expect_inputs(_qa(submission, shared=True),
                  [("text", (None, None), "int32"), ("question", (None, None), "int32")], QA)


@graded(QA, 1)
def test_qa_output(submission):
    """Exercise 1: one output, the layer 'answer', of shape (None, 500) with softmax."""
    model = _qa(submission, shared=True)
    expect_outputs(model, [("answer", (None, 500))], QA)
    _, activation = head(model, output_layer(model, "answer"))
    if activation != "softmax":
        raise GradeFailure(f"{QA}: the answer layer needs activation='softmax' (probabilities over the answer "
                           f"vocabulary), it has {activation}.")


@graded(QA, 2)
def test_qa_branches(submission):
    """Exercise 1: text → Embedding(10000, 64) → LSTM(32), question → Embedding(10000, 32) → LSTM(16), separately."""
    _expect_branches(_qa(submission, shared=True), {"text": (10000, 64, 32), "question": (10000, 32, 16)})


@graded(QA, 1)
def test_qa_branches_share_nothing(submission):
    """Exercise 1: the two branches share nothing: every layer of the model is called once."""
    model = _qa(submission, shared=True)
    shared = called_more_than_once(model)
    if shared:
        names = ", ".join(f"'{layer.name}' ({type(layer).__name__})" for layer in shared)
        raise GradeFailure(f"{QA}: the two branches should share nothing, but these layers are called more than "
                           f"once, so the branches share them: {names}; create a separate Embedding and a separate "
                           "LSTM for 'text' and for 'question'.")


@graded(QA, 1)
def test_qa_merge(submission):
    """Exercise 1: the two LSTMs' outputs are concatenated, and the concatenation feeds the softmax layer."""
    model = _qa(submission, shared=True)
    expect_outputs(model, [("answer", (None, 500))], QA)
    dense, _ = head(model, output_layer(model, "answer"))
    merge = back(model, dense) if dense is not None else None
    if type(merge).__name__ != "Concatenate":
        raise GradeFailure(f"{QA}: the answer layer should read a concatenation of the two branches, it reads "
                           f"{describe(merge)}; use layers.concatenate([encoded_text, encoded_question]).")
    joined = sorted(layer.name for layer in feeders(model, merge))
    lstms = sorted([_branch(model, "text")[1].name, _branch(model, "question")[1].name])
    if joined != lstms:
        raise GradeFailure(f"{QA}: the concatenation should join the outputs of the two LSTMs, each once "
                           f"({', '.join(lstms)}), it joins {', '.join(joined) or 'nothing'}.")


@graded(QA, 1)
def test_qa_uncompiled(submission):
    """Exercise 1: the model is returned uncompiled."""
    model = _qa(submission, shared=True)
    if getattr(model, "compiled", False):
        raise GradeFailure(f"{QA}: the model should be returned uncompiled, but it was compiled (with "
                           f"{type(model.optimizer).__name__}); remove the model.compile(...) call: whoever uses "
                           "the model chooses how to train it.")


@graded(QA, 1)
def test_qa_uses_sizes(submission):
    """Exercise 1: the sizes come from the arguments: build_qa_model(50, 30, 7, 8, 4, 6, 3)."""
    model = _qa(submission, 50, 30, 7, 8, 4, 6, 3, shared=True)
    expect_outputs(model, [("answer", (None, 7))], QA)
    _expect_branches(model, {"text": (50, 8, 6), "question": (30, 4, 3)})


@graded(QA, 1)
def test_qa_masks_padding(submission):
    """Exercise 1: padding with zeros does not change the answer (mask_zero=True on both embeddings)."""
    model = _qa(submission, 50, 30, 7, 8, 4, 6, 3, shared=True)
    rng = run_rng(QA, "padding")  # new words every grading run
    text, question = rng.integers(1, 50, (4, 6)), rng.integers(1, 30, (4, 3))

    def answer(extra_text: int, extra_question: int) -> np.ndarray:
        inputs = {"text": np.pad(text, ((0, 0), (0, extra_text))),
                  "question": np.pad(question, ((0, 0), (0, extra_question)))}
        return to_numpy(submission.run(f"calling the model from {QA}", model, inputs))

    plain = answer(0, 0)
    for extra, which in (((5, 0), "text"), ((0, 4), "question")):
        if not np.allclose(plain, answer(*extra), rtol=1e-4, atol=1e-7):
            raise GradeFailure(f"{QA}: padding the {which} with zeros changes the answer; give its Embedding "
                               "mask_zero=True so that the LSTM skips the padding.")


@graded(QA, 1, hidden=True)
def test_qa_learns(submission):
    """Exercise 1: compiled with Adam and sparse categorical cross-entropy, a short fit lowers the loss.

    Hidden: the student edition does not contain this test; teachers' grading runs it."""
    samples, epochs, batch_size = QA_FIT
    model = _qa(submission, 20, 10, 5, 8, 4, 8, 4)  # a model of its own: it is compiled and trained
    rng = run_rng(QA, "learns")
    x = {"text": rng.integers(1, 20, (samples, 6)).astype("int32"),
         "question": rng.integers(1, 10, (samples, 3)).astype("int32")}
    y = (x["text"][:, -1] % 5).astype("int64")  # a learnable rule: the last word of the text
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    history = submission.run(f"training the model from {QA}", fit, model, x, y, epochs=epochs,
                             batch_size=batch_size, verbose=0)
    before, after = float(history.history["loss"][0]), float(history.history["loss"][-1])
    if not (np.isfinite(after) and after < 0.8 * before):
        raise GradeFailure(f"{QA}: {epochs} epochs on {samples} examples took the loss from {before:.3f} (first "
                           f"epoch) only to {after:.3f} (last epoch); check the softmax output and that the LSTMs "
                           "read the embedded words.")


# ------------------------------------------------------------------------------------------------ exercise 2


def _headline(submission: Submission, *args: Any, shared: bool = False) -> keras.Model:
    """The submission's model; ``shared``: the one rebuilt model the tests that only read it share
    (:meth:`Submission.shared_model`), else a model of the test's own (to compile or train)."""
    fresh_session()
    return submission.shared_model(HEADLINE, *args) if shared else submission.model(HEADLINE, *args)


def _aux_lstm(model: keras.Model) -> Any:
    """The LSTM that the auxiliary output reads (GradeFailure if it reads anything else)."""
    dense, _ = head(model, output_layer(model, "aux_output"))
    lstm = back(model, dense) if dense is not None else None
    if type(lstm).__name__ != "LSTM":
        raise GradeFailure(f"{HEADLINE}: 'aux_output' should read the LSTM's output directly, it reads "
                           f"{describe(lstm)}.")
    return lstm


@graded(HEADLINE, 1)
def test_headline_inputs(submission):
    """Exercise 2: inputs 'main_input' (None, 100) int32 and 'aux_input' (None, 5) float32."""
    expect_inputs(_headline(submission, shared=True),
                  [("main_input", (None, 100), "int32"), ("aux_input", (None, 5), "float32")], HEADLINE)


@graded(HEADLINE, 1)
def test_headline_outputs(submission):
    """Exercise 2: outputs 'main_output' and 'aux_output', each of shape (None, 1) with a sigmoid."""
    model = _headline(submission, shared=True)
    expect_outputs(model, [("main_output", (None, 1)), ("aux_output", (None, 1))], HEADLINE)
    for name in ("main_output", "aux_output"):
        _, activation = head(model, output_layer(model, name))
        if activation != "sigmoid":
            raise GradeFailure(f"{HEADLINE}: '{name}' needs activation='sigmoid' (a probability), it has "
                               f"{activation}.")


@graded(HEADLINE, 1)
def test_headline_encoder(submission):
    """Exercise 2: the headline goes through Embedding(10000, 512), then LSTM(32): main_input → Embedding → LSTM."""
    model = _headline(submission, shared=True)
    lstms = [layer for layer in layers_of(model) if type(layer).__name__ == "LSTM"]
    if len(lstms) != 1:
        raise GradeFailure(f"{HEADLINE}: the model should have one LSTM, it has {len(lstms)}"
                           f"{' (' + ', '.join(describe(layer) for layer in lstms) + ')' if lstms else ''}.")
    lstm = lstms[0]
    if lstm.units != 32:
        raise GradeFailure(f"{HEADLINE}: the LSTM should have 32 units, it has {lstm.units}.")
    embedding = back(model, lstm)
    if type(embedding).__name__ != "Embedding" or (embedding.input_dim, embedding.output_dim) != (10000, 512):
        raise GradeFailure(f"{HEADLINE}: the LSTM should read Embedding(10000, 512), it reads {describe(embedding)}"
                           " (Embedding takes the vocabulary size first).")
    source = back(model, embedding)
    if source is None or source.name != "main_input":
        raise GradeFailure(f"{HEADLINE}: the Embedding should read 'main_input', it reads {describe(source)}.")


@graded(HEADLINE, 1)
def test_headline_aux_taps_lstm(submission):
    """Exercise 2: 'aux_output' reads the LSTM's output directly, with nothing in between."""
    model = _headline(submission, shared=True)
    expect_outputs(model, [("main_output", (None, 1)), ("aux_output", (None, 1))], HEADLINE)
    dense, _ = head(model, output_layer(model, "aux_output"))
    _aux_lstm(model)
    between = feeders(model, dense)
    if len(between) != 1 or type(between[0]).__name__ != "LSTM":
        found = ", ".join(describe(layer) for layer in between) or "nothing"
        raise GradeFailure(f"{HEADLINE}: the Dense(1) of 'aux_output' should read the LSTM's output directly, it "
                           f"reads {found}; call it on the LSTM's output itself.")


@graded(HEADLINE, 2)
def test_headline_main_path(submission):
    """Exercise 2: 'main_output' ← three Dense(64, relu) ← a concatenation of the LSTM's output and 'aux_input'."""
    model = _headline(submission, shared=True)
    expect_outputs(model, [("main_output", (None, 1)), ("aux_output", (None, 1))], HEADLINE)
    lstm = _aux_lstm(model)
    dense, _ = head(model, output_layer(model, "main_output"))
    hidden, layer = [], back(model, dense) if dense is not None else None
    while layer is not None and type(layer).__name__ in {"Dense"} | ACTIVATION_LAYERS:
        hidden_dense, activation = head(model, layer)
        if hidden_dense is None or type(hidden_dense).__name__ != "Dense":
            break
        hidden.append((hidden_dense.units, activation))
        layer = back(model, hidden_dense)
    if hidden != [(64, "relu")] * 3:
        found = " ← ".join(f"Dense({u}, {a})" for u, a in hidden) or "no hidden Dense layers"
        raise GradeFailure(f"{HEADLINE}: between the concatenation and 'main_output' there should be three "
                           f"Dense(64, relu) layers, found {found}.")
    if type(layer).__name__ != "Concatenate":
        raise GradeFailure(f"{HEADLINE}: the first Dense(64) should read a concatenation, it reads {describe(layer)}.")
    joined = sorted(p.name for p in feeders(model, layer))
    if joined != sorted([lstm.name, "aux_input"]):
        raise GradeFailure(f"{HEADLINE}: the concatenation should join the LSTM's output and 'aux_input', each once, "
                           f"it joins {', '.join(joined) or 'nothing'}.")


def _compiled(submission: Submission) -> tuple[keras.Model, dict[str, Any]]:
    """The headline model built small, and per output name: (loss function name, loss weight). The model is the
    shared one: reading the compiled losses resolves them once (Keras' lazy build of the compiled loss, what
    :func:`compiled_losses` reads), the same for every test that reads them, and changes nothing else."""
    model = _headline(submission, 50, 12, 8, shared=True)
    expect_outputs(model, [("main_output", (None, 1)), ("aux_output", (None, 1))], HEADLINE)
    what = f"reading how {HEADLINE} compiled the model"
    return model, submission.run(what, compiled_losses, model)


@graded(HEADLINE, 1)
def test_headline_losses(submission):
    """Exercise 2: both outputs are trained with binary cross-entropy, on the sigmoid's probabilities: each
    compiled loss computes what keras.losses.BinaryCrossentropy() computes (from_logits, label smoothing and
    reduction at their defaults)."""
    model, _ = _compiled(submission)
    wanted = {name: (keras.losses.BinaryCrossentropy(), "binary cross-entropy, loss='binary_crossentropy'")
              for name in ("main_output", "aux_output")}
    submission.run(f"reading how {HEADLINE} compiled the model", expect_losses, model, wanted, HEADLINE,
                   "compile with loss='binary_crossentropy' for both outputs")


@graded(HEADLINE, 1)
def test_headline_loss_weights(submission):
    """Exercise 2: the loss weights are 1.0 for 'main_output' and 0.2 for 'aux_output'."""
    _, found = _compiled(submission)
    for name, weight in (("main_output", 1.0), ("aux_output", 0.2)):
        _, got_weight = found.get(name, ("no loss", 0.0))
        if not np.isclose(got_weight, weight):
            raise GradeFailure(f"{HEADLINE}: '{name}' should have loss weight {weight}, it has {got_weight:g} (give "
                               "the weights by output name, e.g. loss_weights={'main_output': 1.0, "
                               "'aux_output': 0.2}).")


@graded(HEADLINE, 1)
def test_headline_optimizer(submission):
    """Exercise 2: compiled with optimizer='rmsprop' (RMSprop with Keras' default settings)."""
    model, _ = _compiled(submission)
    expect_optimizer(model.optimizer, keras.optimizers.RMSprop, "rmsprop", HEADLINE)


@graded(HEADLINE, 1)
def test_headline_uses_sizes(submission):
    """Exercise 2: the sizes come from the arguments: build_headline_model(50, 12, 8)."""
    model = _headline(submission, 50, 12, 8, shared=True)
    expect_inputs(model, [("main_input", (None, 12), "int32"), ("aux_input", (None, 5), "float32")], HEADLINE)
    embeddings = [layer for layer in layers_of(model) if type(layer).__name__ == "Embedding"]
    if [(e.input_dim, e.output_dim) for e in embeddings] != [(50, 8)]:
        raise GradeFailure(f"{HEADLINE}: with vocabulary_size=50 and embedding_dim=8 the model should have one "
                           f"Embedding(50, 8), it has {', '.join(describe(e) for e in embeddings) or 'none'}.")


@graded(HEADLINE, 1, hidden=True)
def test_headline_learns(submission):
    """Exercise 2: as compiled, a short fit on both inputs and both targets lowers the main output's loss.

    Hidden: the student edition does not contain this test; teachers' grading runs it."""
    samples, epochs, batch_size = HEADLINE_FIT
    model = _headline(submission, 50, 12, 8)  # a model of its own: it is trained
    rng = run_rng(HEADLINE, "learns")
    x = {"main_input": rng.integers(0, 50, (samples, 12)).astype("int32"),
         "aux_input": rng.random((samples, 5)).astype("float32")}
    label = (x["aux_input"][:, :1] > 0.5).astype("float32")  # learnable from the auxiliary features
    y = {"main_output": label, "aux_output": label}
    history = submission.run(f"training the model from {HEADLINE}", fit, model, x, y, epochs=epochs,
                             batch_size=batch_size, verbose=0)
    losses = history.history.get("main_output_loss", [np.nan])
    before, after = float(losses[0]), float(losses[-1])
    if not (np.isfinite(after) and after < 0.8 * before):
        raise GradeFailure(f"{HEADLINE}: {epochs} epochs on {samples} examples took the main output's loss from "
                           f"{before:.3f} (first epoch) only to {after:.3f} (last epoch); check that aux_input reaches "
                           "the main output through the Dense layers.")
