"""The lesson 01 grader, tested: wrong submissions lose the right points with the right feedback, and correct
answers written differently get full marks."""

from __future__ import annotations

import functools

import keras
import numpy as np

from gradekit.harness import close, fresh_session, weight_arrays
from grader_tests.graderkit import Wrong, check_wrong, self_tests
from grading import test_lesson01 as grader

L = keras.layers


# ------------------------------------------------------------------ build_functional_mlp: wrong answers


def mlp(hidden=(32, 32), out_act="softmax", name="pixels", shape=(64,), dtype="float32", trainable=True,
        hidden_act="relu", then=None, out_name="digit"):
    """A builder with one thing changed (the defaults give the correct model); ``then``: an activation layer
    added after the first hidden Dense."""
    def build():
        inp = keras.Input(shape, name=name, dtype=dtype)
        x = L.Flatten()(inp) if len(shape) > 1 else inp
        for i, units in enumerate(hidden):
            x = L.Dense(units, activation=hidden_act, trainable=trainable)(x)
            if then and i == 0:
                x = L.Activation(then)(x)
        return keras.Model(inp, L.Dense(10, activation=out_act, name=out_name, trainable=trainable)(x))
    return build


def mlp_sequential():
    return keras.Sequential([keras.Input((64,), name="pixels"), L.Dense(32, activation="relu"),
                             L.Dense(32, activation="relu"), L.Dense(10, activation="softmax", name="digit")])


def stub():
    raise NotImplementedError


# ------------------------------------------------------------------ build_functional_mlp: right, written differently


def mlp_with_activation_layers():
    image = keras.layers.Input(shape=(64,), name="pixels")
    hidden = L.ReLU()(L.Dense(32)(image))
    hidden = L.Activation("relu")(L.Dense(units=32)(hidden))
    probabilities = L.Activation("softmax", name="digit")(L.Dense(10)(hidden))
    return keras.Model(inputs=[image], outputs=probabilities)


def mlp_with_ops_and_extra_relu():
    pixels = keras.Input(shape=(64,), name="pixels", dtype="float32")
    x = L.Dense(32, activation=keras.activations.relu)(pixels)  # a function instead of a name
    x = L.ReLU()(L.Dense(32, activation="relu")(x))  # relu twice is still relu
    x = L.Dropout(0.1)(x)
    return keras.Model(pixels, L.Softmax(name="digit")(L.Dense(10, name="logits")(x)))


def mlp_with_nested_hidden_block():
    """The hidden layers written as a nested Sequential block, the output layer called on its output."""
    pixels = keras.Input((64,), name="pixels")
    hidden = keras.Sequential([L.Dense(32, activation="relu"), L.Dense(32, activation="relu")], name="hidden")
    return keras.Model(pixels, L.Dense(10, activation="softmax", name="digit")(hidden(pixels)))


def mlp_as_nested_functional_model():
    """The whole stack as a functional model of its own named 'digit', called on the input."""
    inner = keras.Input((64,))
    x = L.Dense(32)(inner)
    x = L.Dense(32, activation="relu")(L.ReLU()(x))
    stack = keras.Model(inner, L.Dense(10, activation="softmax")(x), name="digit")
    pixels = keras.Input((64,), name="pixels")
    return keras.Model(pixels, stack(pixels))


def mlp_nested_tanh_block():
    """Wrong: tanh hidden layers, inside a nested Sequential."""
    pixels = keras.Input((64,), name="pixels")
    hidden = keras.Sequential([L.Dense(32, activation="tanh"), L.Dense(32, activation="tanh")])
    return keras.Model(pixels, L.Dense(10, activation="softmax", name="digit")(hidden(pixels)))


def mlp_nested_block_called_twice():
    """Wrong: one nested Dense(32, relu) block called twice (the two hidden layers share their weights)."""
    pixels = keras.Input((64,), name="pixels")
    block = keras.Sequential([L.Dense(32, activation="relu")])
    hidden = block(L.Dense(32)(pixels))
    return keras.Model(pixels, L.Dense(10, activation="softmax", name="digit")(block(hidden)))


# ------------------------------------------------------------------ to_functional


def to_functional_returns_same(model):
    return model


def to_functional_new_layers(model):
    inp = keras.Input(model.input_shape[1:])
    x = inp
    for layer in model.layers:
        x = layer.__class__.from_config(layer.get_config())(x)
    return keras.Model(inp, x)


def to_functional_copied_weights(model):
    clone = to_functional_new_layers(model)
    clone.set_weights(weight_arrays(model))
    return clone


def to_functional_calls_model(model):
    inp = keras.Input(shape=model.input_shape[1:])
    return keras.Model(inp, model(inp))


def to_functional_reuses_input(model):
    return keras.Model(model.inputs, model.outputs)


def to_functional_hard_coded_shape(model):
    x = inp = keras.Input((64,))
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inp, x)


def to_functional_fixed_batch(model):
    x = inp = keras.Input(batch_shape=(8,) + tuple(model.input_shape[1:]))
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inp, x)


def to_functional_skips_dropout(model):
    x = inp = keras.Input(model.input_shape[1:])
    for layer in model.layers:
        if not isinstance(layer, L.Dropout):  # "it does nothing at inference anyway"
            x = layer(x)
    return keras.Model(inp, x)


def to_functional_extra_layer(model):
    x = inp = keras.Input(model.input_shape[1:])
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inp, L.Dropout(0.2)(x))


def to_functional_by_index(model):
    features = keras.layers.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype, name="features")
    outputs = features
    for i in range(len(model.layers)):
        outputs = model.get_layer(index=i)(outputs)
    return keras.models.Model(inputs=[features], outputs=[outputs], name="rebuilt")


def to_functional_reduce(model):
    inp = keras.Input(shape=model.input_shape[1:], name="anything")
    return keras.Model(inputs=inp, outputs=functools.reduce(lambda t, layer: layer(t), model.layers, inp))


def to_functional_nested_block(model):
    """Right: the given layers called in order inside a functional block of its own, called on a new Input."""
    x = inner = keras.Input(model.input_shape[1:])
    for layer in model.layers:
        x = layer(x)
    block = keras.Model(inner, x, name="block")
    inp = keras.Input(model.input_shape[1:])
    return keras.Model(inp, block(inp))


def to_functional_nested_block_skips_dropout(model):
    """Wrong: the same block, without the Dropout."""
    x = inner = keras.Input(model.input_shape[1:])
    for layer in model.layers:
        if not isinstance(layer, L.Dropout):
            x = layer(x)
    inp = keras.Input(model.input_shape[1:])
    return keras.Model(inp, keras.Model(inner, x)(inp))


def to_functional_block_wraps_the_sequential(model):
    """Wrong: a block of its own whose only layer is the given Sequential, called whole."""
    inner = keras.Input(model.input_shape[1:])
    block = keras.Model(inner, model(inner), name="block")
    inp = keras.Input(model.input_shape[1:])
    return keras.Model(inp, block(inp))


def _old_rows(model):
    """The rows the to_functional check predicted on while it drew them with a fixed seed (random_batch(seed=2)),
    readable by anyone who read the grader."""
    return np.random.default_rng(2).random((8,) + tuple(model.input_shape[1:])).astype("float32")


def to_functional_fitted_to_old_rows(model):
    """Wrong: a new model of its own (random tanh features, then a Dense solved by least squares) that reproduces
    the Sequential model's predictions on the old fixed rows, and on nothing else."""
    x = _old_rows(model)
    want = model.predict(x, verbose=0).astype("float64")
    inp = keras.Input(model.input_shape[1:])
    features, head = L.Dense(64, activation="tanh"), L.Dense(want.shape[-1])
    fitted = keras.Model(inp, head(features(inp)))
    rng = np.random.default_rng(0)
    features.set_weights([rng.normal(0, 0.3, (x.shape[1], 64)).astype("float32"), np.zeros(64, "float32")])
    hidden = np.tanh(x.astype("float64") @ weight_arrays(features)[0].astype("float64"))
    solution = np.linalg.lstsq(np.hstack([hidden, np.ones((len(x), 1))]), want, rcond=None)[0]
    head.set_weights([solution[:-1].astype("float32"), solution[-1].astype("float32")])
    return fitted


# ------------------------------------------------------------------ feature_extractor


def extractor_hard_coded(model, layer_name):
    return keras.Model(model.inputs, model.get_layer("hidden_1").output)


def extractor_new_layers(model, layer_name):
    inp = keras.Input((64,), name="pixels")
    x = inp
    for layer in model.layers[1:]:
        x = layer.__class__.from_config(layer.get_config())(x)
        if layer.name == layer_name:
            break
    return keras.Model(inp, x)


def extractor_own_input(model, layer_name):
    inp = keras.Input((64,), name="my_pixels")
    x = inp
    for layer in model.layers[1:]:
        x = layer(x)
        if layer.name == layer_name:
            break
    return keras.Model(inp, x)


def extractor_by_search(model, layer_name):
    [target] = [layer for layer in model.layers if layer.name == layer_name]
    return keras.Model(inputs=model.input, outputs=target.output)


def extractor_listed(model, layer_name):
    return keras.models.Model(inputs=list(model.inputs), outputs=[model.get_layer(name=layer_name).output],
                              name="features")


def extractor_new_input_same_name(model, layer_name):
    inp = keras.Input((64,), name="pixels")  # looks like model.inputs, but is a new Input
    x = inp
    for layer in model.layers[1:]:
        x = layer(x)
        if layer.name == layer_name:
            break
    return keras.Model(inp, x)


def extractor_first_input_only(model, layer_name):
    return keras.Model(model.inputs[0], model.get_layer(layer_name).output)


def extractor_also_model_output(model, layer_name):
    return keras.Model(model.inputs, [model.get_layer(layer_name).output, model.outputs[0]])


def extractor_through_dropout(model, layer_name):
    return keras.Model(model.inputs, L.Dropout(0.5)(model.get_layer(layer_name).output))


# ------------------------------------------------------------------ SimpleDense


class DenseNoConfig(L.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return self.activation(inputs @ self.kernel + self.bias)


class DenseBadConfig(DenseNoConfig):
    def get_config(self):  # loses units and activation
        return {"name": self.name, "trainable": self.trainable}


class DenseWeightsInInit(DenseNoConfig):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(units, activation, **kwargs)
        self.kernel = self.add_weight(shape=(7, units))
        self.bias = self.add_weight(shape=(units,), initializer="zeros")

    def build(self, input_shape):
        pass

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}


class DenseIgnoresActivation(DenseWeightsInInit):
    def build(self, input_shape):
        DenseNoConfig.build(self, input_shape)

    def __init__(self, units, activation=None, **kwargs):
        DenseNoConfig.__init__(self, units, activation, **kwargs)

    def call(self, inputs):
        return inputs @ self.kernel + self.bias


class DenseIdentity(DenseIgnoresActivation):
    def call(self, inputs):
        return inputs


class NotALayer:
    def __init__(self, units, activation=None, **kwargs):
        self.units = units


class DenseFromBuiltin(L.Dense):
    """A one-line subclass of the built-in layer: not a layer written from scratch."""


class DenseMakesWeightsInCall(DenseNoConfig):
    def build(self, input_shape):
        self.ready = False

    def call(self, inputs):
        if not self.ready:
            DenseNoConfig.build(self, inputs.shape)
            self.ready = True
        return DenseNoConfig.call(self, inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}


class DenseForgetsName(DenseNoConfig):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(units, activation)  # drops name and the other base arguments

    def get_config(self):
        return {"units": self.units, "activation": keras.activations.serialize(self.activation)}


class DenseReachesIntoTheInterpreter(DenseNoConfig):
    def get_config(self):
        import gc  # no exercise needs the interpreter's object lists: the grader flags the exercise

        gc.collect()
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}


class DenseWrittenDifferently(keras.layers.Layer):
    def __init__(self, units=1, activation="linear", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.units, self.act_name = units, activation

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(int(input_shape[-1]), self.units), initializer="random_normal")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, x):
        return keras.activations.get(self.act_name)(keras.ops.add(keras.ops.dot(x, self.w), self.b))

    def get_config(self):
        base = super().get_config()
        return dict(base, units=self.units, activation=self.act_name)


WRONG = {
    "build_functional_mlp": [
        Wrong("relu-output", {"build_functional_mlp": mlp(out_act="relu")},
              {"test_mlp_output": "softmax", "test_mlp_hidden_layers": r"found .*Dense\(10, relu\)"}),
        Wrong("one-hidden-layer", {"build_functional_mlp": mlp(hidden=(32,))},
              {"test_mlp_hidden_layers": r"found Dense\(32, relu\) → Dense\(10, softmax\)"}),
        Wrong("sequential", {"build_functional_mlp": mlp_sequential}, {"test_mlp_is_functional": "Sequential"}),
        Wrong("input-misnamed", {"build_functional_mlp": mlp(name="x")}, {"test_mlp_input": "no input named 'pixels'"}),
        Wrong("int-input", {"build_functional_mlp": mlp(dtype="int32")}, {"test_mlp_input": "dtype float32"}),
        Wrong("frozen", {"build_functional_mlp": mlp(trainable=False)}, {"test_mlp_learns": "took the loss"}),
        Wrong("no-softmax-output", {"build_functional_mlp": mlp(out_act=None)},
              {"test_mlp_learns": r"not class probabilities \(.*\).*Dense\(10, activation='softmax'\)",
               "test_mlp_output": "softmax"}),
        Wrong("no-return", {"build_functional_mlp": lambda: None},
              {"test_mlp_input": "returned NoneType.*forget to return", "test_mlp_learns": "returned NoneType"}),
        Wrong("not-implemented", {"build_functional_mlp": stub}, {"test_mlp_output": "not implemented yet"}),
        Wrong("tanh-hidden", {"build_functional_mlp": mlp(hidden_act="tanh")},
              {"test_mlp_hidden_layers": r"found Dense\(32, tanh\) → Dense\(32, tanh\)"}),
        Wrong("sigmoid-after-relu", {"build_functional_mlp": mlp(then="sigmoid")},
              {"test_mlp_hidden_layers": r"found Dense\(32, relu then sigmoid\) → Dense\(32, relu\)"}),
        Wrong("output-misnamed", {"build_functional_mlp": mlp(out_name="probabilities")},
              {"test_mlp_output": "no output named 'digit'"}),
        Wrong("nested-tanh-block", {"build_functional_mlp": mlp_nested_tanh_block},
              {"test_mlp_hidden_layers": r"found Dense\(32, tanh\) → Dense\(32, tanh\) → Dense\(10, softmax\)"}),
        Wrong("nested-block-called-twice", {"build_functional_mlp": mlp_nested_block_called_twice},
              {"test_mlp_hidden_layers": r"'dense(_\d+)?' is called more than once"}),
        Wrong("image-input", {"build_functional_mlp": mlp(shape=(8, 8))},
              {"test_mlp_input": r"shape \(None, 64\)", "test_mlp_hidden_layers": r"'flatten' \(Flatten\)",
               "test_mlp_learns": "training the model from build_functional_mlp raised ValueError"}),
    ],
    "to_functional": [
        Wrong("returns-the-sequential", {"to_functional": to_functional_returns_same},
              {"test_to_functional_is_new_functional_model": "returned a Sequential"}),
        Wrong("new-layers", {"to_functional": to_functional_new_layers},
              {"test_to_functional_same_predictions": "predicts different values",
               "test_to_functional_shares_weights": "weights of its own",
               "test_to_functional_no_new_layers": r"new layers \('dense(_\d+)?' \(Dense\)",
               "test_to_functional_calls_layers_in_order": r"'dense(_\d+)?' \(new\)"}),
        Wrong("copied-weights", {"to_functional": to_functional_copied_weights},
              {"test_to_functional_shares_weights": "weights of its own"}),
        Wrong("missing", {}, {"test_to_functional_same_predictions": "defines no 'to_functional'"}),
        Wrong("calls-the-sequential", {"to_functional": to_functional_calls_model},
              {"test_to_functional_calls_layers_in_order": "Sequential model 'classic' itself, called as one layer"}),
        Wrong("reuses-the-sequential-input", {"to_functional": to_functional_reuses_input},
              {"test_to_functional_new_input": r"Sequential model's own input \(model.inputs\)"}),
        Wrong("hard-coded-shape", {"to_functional": to_functional_hard_coded_shape},
              {"test_to_functional_input_shape": r"value 5, but received input with shape \(None, 64\)",
               "test_to_functional_same_predictions": "value 5"}),
        Wrong("fixed-batch-size", {"to_functional": to_functional_fixed_batch},
              {"test_to_functional_input_shape": r"shape \(None, 64\) \(batch first\), it has \(8, 64\)"}),
        Wrong("skips-dropout", {"to_functional": to_functional_skips_dropout},
              {"test_to_functional_calls_layers_in_order": r"'dropout.*found 'dense_\d+' → 'dense_\d+'\. "}),
        Wrong("nested-block-skips-dropout", {"to_functional": to_functional_nested_block_skips_dropout},
              {"test_to_functional_calls_layers_in_order": r"'dropout.*found 'dense_\d+' → 'dense_\d+'\. "}),
        Wrong("block-wraps-the-sequential", {"to_functional": to_functional_block_wraps_the_sequential},
              {"test_to_functional_calls_layers_in_order": "Sequential model 'classic' itself, called as one layer"}),
        Wrong("extra-dropout", {"to_functional": to_functional_extra_layer},
              {"test_to_functional_no_new_layers": r"new layers \('dropout_\d+' \(Dropout\)\)",
               "test_to_functional_calls_layers_in_order": r"'dropout_\d+' \(new\)"}),
    ],
    "feature_extractor": [
        Wrong("hard-coded-layer", {"feature_extractor": extractor_hard_coded},
              {"test_feature_extractor_outputs": "layer_name='hidden_2'",
               "test_feature_extractor_shares_weights": "not the given model's own variables"}),
        Wrong("new-layers", {"feature_extractor": extractor_new_layers},
              {"test_feature_extractor_outputs": r"produced by a new layer 'hidden_1' \(a copy\)",
               "test_feature_extractor_shares_weights": r"not the given model's own \('hidden_1' \(Dense\)"}),
        Wrong("own-input", {"feature_extractor": extractor_own_input},
              {"test_feature_extractor_inputs": "model.inputs"}),
        Wrong("new-input-with-the-same-name", {"feature_extractor": extractor_new_input_same_name},
              {"test_feature_extractor_inputs": r"it takes 'pixels' \(a new Input\); use model.inputs itself"}),
        Wrong("first-input-only", {"feature_extractor": extractor_first_input_only},
              {"test_feature_extractor_inputs": r"on a model with the inputs 'pixels', 'extra', .* all of the "
                                                r"model's inputs"}),
        Wrong("also-the-model-output", {"feature_extractor": extractor_also_model_output},
              {"test_feature_extractor_outputs": "should have one output, that layer's output; it has 2"}),
        Wrong("features-through-dropout", {"feature_extractor": extractor_through_dropout},
              {"test_feature_extractor_outputs": r"produced by 'dropout.*' \(Dropout\), not by the given model's layer "
                                                 r"'hidden_1' itself",
               "test_feature_extractor_shares_weights": r"not the given model's own \('dropout"}),
    ],
    "SimpleDense": [
        Wrong("config-without-arguments", {"SimpleDense": DenseBadConfig},
              {"test_simple_dense_config": "lacks units, activation", "test_simple_dense_save_load": "failed"}),
        Wrong("weights-in-init", {"SimpleDense": DenseWeightsInInit},
              {"test_simple_dense_weights": "in __init__"}),
        Wrong("ignores-activation", {"SimpleDense": DenseIgnoresActivation},
              {"test_simple_dense_computes": "activation='relu'"}),
        Wrong("identity", {"SimpleDense": DenseIdentity},
              {"test_simple_dense_output_shape": r"should output shape \(None, \d+\); on a batch of \d+ it outputs",
               "test_simple_dense_weights": "does not compute inputs @ kernel \\+ bias"}),
        Wrong("not-a-layer", {"SimpleDense": NotALayer},
              {"test_simple_dense_output_shape": "subclasses nothing"}),
        Wrong("subclass-of-the-built-in-dense", {"SimpleDense": DenseFromBuiltin},
              dict.fromkeys(["test_simple_dense_output_shape", "test_simple_dense_weights",
                             "test_simple_dense_computes", "test_simple_dense_config",
                             "test_simple_dense_save_load"], "a layer Keras already has")),
        Wrong("weights-made-in-call", {"SimpleDense": DenseMakesWeightsInCall},
              {"test_simple_dense_weights": r"build\(\) creates no weights"}),
        Wrong("loses-the-name", {"SimpleDense": DenseForgetsName},
              {"test_simple_dense_config": r"name=None"}),
        Wrong("reaches-into-the-interpreter", {"SimpleDense": DenseReachesIntoTheInterpreter},
              dict.fromkeys(["test_simple_dense_output_shape", "test_simple_dense_config"],
                            r"earns no points: its code .*gc")),
    ],
}

RIGHT = {
    "build_functional_mlp": [{"build_functional_mlp": mlp_with_activation_layers},
                             {"build_functional_mlp": mlp_with_ops_and_extra_relu},
                             {"build_functional_mlp": mlp_with_nested_hidden_block},
                             {"build_functional_mlp": mlp_as_nested_functional_model}],
    "to_functional": [{"to_functional": to_functional_reduce}, {"to_functional": to_functional_by_index},
                      {"to_functional": to_functional_nested_block}],
    "feature_extractor": [{"feature_extractor": extractor_by_search}, {"feature_extractor": extractor_listed}],
    "SimpleDense": [{"SimpleDense": DenseWrittenDifferently}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson01", WRONG, RIGHT)


def test_to_functional_fitted_to_the_old_fixed_rows_earns_no_points(tmp_path):
    """The to_functional check draws its rows afresh in every grading run: a model fitted to (or hard-coding) the
    Sequential models' predictions on the rows the check once drew with a fixed seed reproduces them, and still
    loses the points for the same predictions."""
    fresh_session()
    for seq in grader._sequentials():
        rows = _old_rows(seq)
        forged = to_functional_fitted_to_old_rows(seq)
        assert close(forged.predict(rows, verbose=0), seq.predict(rows, verbose=0)), "the forgery must fit the old rows"
    check_wrong(grader, "to_functional", "lesson01",
                Wrong("fitted-to-the-old-fixed-rows", {"to_functional": to_functional_fitted_to_old_rows},
                      {"test_to_functional_same_predictions": "predicts different values"}), tmp_path)
