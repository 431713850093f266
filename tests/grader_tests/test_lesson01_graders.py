"""The lesson 01 grader, tested: wrong submissions lose the right points with the right feedback, and correct
answers written differently get full marks."""

from __future__ import annotations

import functools

import keras

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson01 as grader

L = keras.layers


# ------------------------------------------------------------------ build_functional_mlp: wrong answers


def mlp(hidden=(32, 32), out_act="softmax", name="pixels", shape=(64,), dtype="float32", trainable=True):
    def build():
        inp = keras.Input(shape, name=name, dtype=dtype)
        x = inp
        for units in hidden:
            x = L.Dense(units, activation="relu", trainable=trainable)(x)
        return keras.Model(inp, L.Dense(10, activation=out_act, name="digit", trainable=trainable)(x))
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
    clone.set_weights(model.get_weights())
    return clone


def to_functional_calls_model(model):
    inp = keras.Input(shape=model.input_shape[1:])
    return keras.Model(inp, model(inp))


def to_functional_reduce(model):
    inp = keras.Input(shape=model.input_shape[1:], name="anything")
    return keras.Model(inputs=inp, outputs=functools.reduce(lambda t, layer: layer(t), model.layers, inp))


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
        Wrong("no-return", {"build_functional_mlp": lambda: None},
              {"test_mlp_input": "returned NoneType.*forget to return", "test_mlp_learns": "returned NoneType"}),
        Wrong("not-implemented", {"build_functional_mlp": stub}, {"test_mlp_output": "not implemented yet"}),
    ],
    "to_functional": [
        Wrong("returns-the-sequential", {"to_functional": to_functional_returns_same},
              {"test_to_functional_is_new_functional_model": "returned a Sequential"}),
        Wrong("new-layers", {"to_functional": to_functional_new_layers},
              {"test_to_functional_same_predictions": "predicts different values",
               "test_to_functional_shares_weights": "weights of its own"}),
        Wrong("copied-weights", {"to_functional": to_functional_copied_weights},
              {"test_to_functional_shares_weights": "weights of its own"}),
        Wrong("missing", {}, {"test_to_functional_same_predictions": "defines no 'to_functional'"}),
    ],
    "feature_extractor": [
        Wrong("hard-coded-layer", {"feature_extractor": extractor_hard_coded},
              {"test_feature_extractor_outputs": "layer_name='hidden_2'",
               "test_feature_extractor_shares_weights": "not the given model's own variables"}),
        Wrong("new-layers", {"feature_extractor": extractor_new_layers},
              {"test_feature_extractor_outputs": "is not that layer's output",
               "test_feature_extractor_shares_weights": "not the given model's own variables"}),
        Wrong("own-input", {"feature_extractor": extractor_own_input},
              {"test_feature_extractor_inputs": "model.inputs"}),
    ],
    "SimpleDense": [
        Wrong("config-without-arguments", {"SimpleDense": DenseBadConfig},
              {"test_simple_dense_config": "lacks units, activation", "test_simple_dense_save_load": "failed"}),
        Wrong("weights-in-init", {"SimpleDense": DenseWeightsInInit},
              {"test_simple_dense_weights": "in __init__"}),
        Wrong("ignores-activation", {"SimpleDense": DenseIgnoresActivation},
              {"test_simple_dense_computes": "activation='relu'"}),
        Wrong("identity", {"SimpleDense": DenseIdentity},
              {"test_simple_dense_output_shape": r"outputs \(None, 7\)"}),
        Wrong("not-a-layer", {"SimpleDense": NotALayer},
              {"test_simple_dense_output_shape": "subclasses keras.layers.Layer"}),
    ],
}

RIGHT = {
    "build_functional_mlp": [{"build_functional_mlp": mlp_with_activation_layers}],
    "to_functional": [{"to_functional": to_functional_calls_model}, {"to_functional": to_functional_reduce}],
    "feature_extractor": [{"feature_extractor": extractor_by_search}],
    "SimpleDense": [{"SimpleDense": DenseWrittenDifferently}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson01", WRONG, RIGHT)
