"""The lesson 03 grader, tested: wrong profiling models, compile functions and loss weights lose the right points
with the right feedback, and correct ones written differently get full marks."""

from __future__ import annotations

import keras
import numpy as np

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson03 as grader

L = keras.layers


# ------------------------------------------------------------------ build_profile_model


def profile(swap=False, age_act=None, income_act="softmax", gender_act="sigmoid", separate_trunks=False,
            convs=(128, 256, 256, 256, 256), fixed=False, dtype="int32", trainable=True, compiled=False,
            first_conv=None, pool=None, leaky=False):
    """A profiling-model builder with one thing changed (the defaults give the correct model): ``first_conv`` and
    ``pool`` are extra keyword arguments for the first Conv1D and the first MaxPooling1D; ``leaky`` gives the first
    Conv1D a leaky ReLU layer instead of activation='relu'."""

    def build_profile_model(vocabulary_size=50000, embedding_dim=256, num_income_groups=10):
        if fixed:
            vocabulary_size, embedding_dim, num_income_groups = 50000, 256, 10
        posts = keras.Input((None,), dtype=dtype, name="posts")
        embedding = L.Embedding(embedding_dim, vocabulary_size) if swap else L.Embedding(vocabulary_size, embedding_dim)
        x = embedding(posts)
        if leaky:
            x = L.ReLU(negative_slope=0.1)(L.Conv1D(convs[0], 5, trainable=trainable, **(first_conv or {}))(x))
        else:
            x = L.Conv1D(convs[0], 5, activation="relu", trainable=trainable, **(first_conv or {}))(x)
        x = L.MaxPooling1D(5, **(pool or {}))(x)
        for filters in convs[1:3]:
            x = L.Conv1D(filters, 5, activation="relu", trainable=trainable)(x)
        x = L.MaxPooling1D(5)(x)
        for filters in convs[3:]:
            x = L.Conv1D(filters, 5, activation="relu", trainable=trainable)(x)
        x = L.GlobalMaxPooling1D()(x)

        def shared():
            return L.Dense(128, activation="relu", trainable=trainable)(x)

        h = shared()
        age = L.Dense(1, activation=age_act, name="age", trainable=trainable)(h)
        income = L.Dense(num_income_groups, activation=income_act, name="income", trainable=trainable)(
            shared() if separate_trunks else h)
        gender = L.Dense(1, activation=gender_act, name="gender", trainable=trainable)(h)
        model = keras.Model(posts, [age, income, gender])
        if compiled:
            model.compile("adam", loss={"age": "mse", "income": "categorical_crossentropy",
                                        "gender": "binary_crossentropy"})
        return model

    return build_profile_model


def profile_relu_layer_on_age(vocabulary_size=50000, embedding_dim=256, num_income_groups=10):
    """Wrong: the age head is a Dense(1) followed by a ReLU layer that carries the name (ages can't go negative)."""
    model = profile()(vocabulary_size, embedding_dim, num_income_groups)
    shared = model.get_layer("age").input
    age = L.ReLU(name="age")(L.Dense(1)(shared))
    return keras.Model(model.inputs, [age, model.get_layer("income").output, model.get_layer("gender").output])


def profile_nested_trunk(vocabulary_size=50000, embedding_dim=256, num_income_groups=10, convs=(128, 256, 256, 256,
                                                                                                 256)):
    """Right (with the default convs): the trunk, from the Embedding to the shared Dense(128), written as a nested
    Sequential; the three heads read its output."""
    posts = keras.Input((None,), dtype="int32", name="posts")
    trunk = keras.Sequential([L.Embedding(vocabulary_size, embedding_dim), L.Conv1D(convs[0], 5, activation="relu"),
                              L.MaxPooling1D(5), *[L.Conv1D(f, 5, activation="relu") for f in convs[1:3]],
                              L.MaxPooling1D(5), *[L.Conv1D(f, 5, activation="relu") for f in convs[3:]],
                              L.GlobalMaxPooling1D(), L.Dense(128, activation="relu")], name="trunk")
    shared = trunk(posts)
    return keras.Model(posts, [L.Dense(1, name="age")(shared),
                               L.Dense(num_income_groups, activation="softmax", name="income")(shared),
                               L.Dense(1, activation="sigmoid", name="gender")(shared)])


def profile_written_differently(vocabulary_size=50000, embedding_dim=256, num_income_groups=10):
    words = L.Input(shape=(None,), dtype="int32", name="posts")
    x = L.Embedding(input_dim=vocabulary_size, output_dim=embedding_dim)(words)
    x = L.Activation("relu")(L.Conv1D(filters=128, kernel_size=5)(x))
    x = L.MaxPooling1D(pool_size=5)(x)
    for _ in range(2):
        x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    for _ in range(2):
        x = L.Conv1D(256, 5, activation="relu")(x)
    shared = L.Dropout(0.2)(L.Dense(128, activation="relu")(L.GlobalMaxPooling1D()(x)))
    gender = L.Activation("sigmoid", name="gender")(L.Dense(1)(shared))
    income = L.Softmax(name="income")(L.Dense(num_income_groups)(shared))
    age = L.Dense(1, activation="linear", name="age")(shared)
    return keras.Model(inputs=words, outputs={"gender": gender, "age": age, "income": income})


def profile_with_ops_and_explicit_defaults(vocabulary_size=50000, embedding_dim=256, num_income_groups=10):
    """Right: keras.ops.relu and ReLU() layers, the default strides and padding spelled out, the heads built in
    another order, layers made first and called afterwards, and a model name of its own."""
    conv = [L.Conv1D(f, 5, strides=1, padding="valid") for f in (128, 256, 256, 256, 256)]
    pools = [L.MaxPool1D(pool_size=5, strides=5, padding="valid") for _ in range(2)]
    posts = keras.Input(batch_shape=(None, None), dtype="int32", name="posts")
    x = L.Embedding(vocabulary_size, embedding_dim)(posts)
    x = pools[0](keras.ops.relu(conv[0](x)))
    x = L.ReLU()(conv[2](L.ReLU()(conv[1](x))))
    x = pools[1](x)
    x = keras.activations.relu(conv[4](keras.ops.relu(conv[3](x))))
    shared = L.Dense(128)(L.GlobalMaxPooling1D()(x))
    shared = L.ReLU()(shared)
    income = L.Dense(num_income_groups, activation=keras.activations.softmax, name="income")(shared)
    gender = L.Dense(1, activation=keras.activations.sigmoid, name="gender")(shared)
    age = L.Dense(1, name="age")(shared)
    return keras.Model(posts, [income, gender, age], name="profiles")


# ------------------------------------------------------------------ compile_profile_model


def compile_with_list(model, loss_weights, optimizer="rmsprop"):
    """Wrong: a list in a fixed order (age, income, gender), whatever the order of model.outputs."""
    model.compile(optimizer=optimizer, loss=["mse", "categorical_crossentropy", "binary_crossentropy"],
                  loss_weights=[loss_weights["age"], loss_weights["income"], loss_weights["gender"]],
                  metrics=[["mae"], ["accuracy"], ["accuracy"]])
    return model


def compile_sparse_income(model, loss_weights, optimizer="rmsprop"):
    model.compile(optimizer=optimizer, loss={"age": "mse", "income": "sparse_categorical_crossentropy",
                                             "gender": "binary_crossentropy"},
                  loss_weights=loss_weights, metrics={"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]})
    return model


def compile_classic_weights(model, loss_weights, optimizer="rmsprop"):
    model.compile(optimizer=optimizer, loss={"age": "mse", "income": "categorical_crossentropy",
                                             "gender": "binary_crossentropy"},
                  loss_weights={"age": 0.25, "income": 1.0, "gender": 10.0},
                  metrics={"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]})
    return model


def compile_mixed_forms(model, loss_weights, optimizer="rmsprop"):
    """Wrong: losses as a list in output order, weights as a dict (Keras pairs them alphabetically)."""
    losses = {"age": "mse", "income": "categorical_crossentropy", "gender": "binary_crossentropy"}
    model.compile(optimizer=optimizer, loss=[losses[name] for name in model.output_names],
                  loss_weights=dict(loss_weights), metrics={"age": ["mae"], "income": ["accuracy"],
                                                            "gender": ["accuracy"]})
    return model


def compile_no_metrics(model, loss_weights, optimizer="rmsprop"):
    model.compile(optimizer=optimizer, loss={"age": "mse", "income": "categorical_crossentropy",
                                             "gender": "binary_crossentropy"}, loss_weights=loss_weights)
    return model


def compile_ignores_optimizer(model, loss_weights, optimizer="rmsprop"):
    return compile_no_metrics(model, loss_weights, "adam") and model.compile(
        optimizer="adam", loss={"age": "mse", "income": "categorical_crossentropy", "gender": "binary_crossentropy"},
        loss_weights=loss_weights, metrics={"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]}) or model


def compile_no_return(model, loss_weights, optimizer="rmsprop"):
    compile_no_metrics(model, loss_weights, optimizer)


def compile_with_metrics(metrics):
    """A compile function that gets everything right but the metrics."""

    def compile_profile_model(model, loss_weights, optimizer="rmsprop"):
        model.compile(optimizer=optimizer, loss={"age": "mse", "income": "categorical_crossentropy",
                                                 "gender": "binary_crossentropy"},
                      loss_weights=loss_weights, metrics=metrics)
        return model

    return compile_profile_model


def compile_losses_configured(income: object, gender: object):
    """Right kinds of loss, configured otherwise than the exercise's (e.g. from_logits=True on the softmax)."""

    def compile_profile_model(model, loss_weights, optimizer="rmsprop"):
        model.compile(optimizer=optimizer, loss={"age": "mse", "income": income, "gender": gender},
                      loss_weights=loss_weights, metrics={"age": ["mae"], "income": ["accuracy"],
                                                          "gender": ["accuracy"]})
        return model

    return compile_profile_model


def compile_fast_default(model, loss_weights, optimizer=None):
    """Wrong: without an optimizer argument, RMSprop with a learning rate of its own, not optimizer='rmsprop'."""
    return compile_with_metrics({"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]})(
        model, loss_weights, optimizer or keras.optimizers.RMSprop(learning_rate=0.05))


def compile_a_clone(model, loss_weights, optimizer="rmsprop"):
    """Wrong: compiles and returns a copy, not the model it was given."""
    copy = keras.models.clone_model(model)
    copy.compile(optimizer=optimizer, loss={"age": "mse", "income": "categorical_crossentropy",
                                            "gender": "binary_crossentropy"}, loss_weights=loss_weights,
                 metrics={"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]})
    return copy


def compile_written_differently(model, loss_weights, optimizer="rmsprop"):
    kinds = {"age": keras.losses.MeanSquaredError(), "income": keras.losses.CategoricalCrossentropy(),
             "gender": keras.losses.binary_crossentropy}
    metrics = {"age": keras.metrics.MeanAbsoluteError(), "income": keras.metrics.CategoricalAccuracy(),
               "gender": keras.metrics.BinaryAccuracy()}
    names = model.output_names  # lists, both in the order of the model's outputs
    model.compile(optimizer, loss=[kinds[n] for n in names], loss_weights=[loss_weights[n] for n in names],
                  metrics=[[metrics[n]] for n in names])
    return model


def compile_with_metric_names(model, loss_weights, optimizer="rmsprop"):
    """Right: the metrics by their full names, plus an extra one, and the optimizer by keyword, losses as functions."""
    model.compile(loss={"gender": keras.losses.binary_crossentropy, "income": keras.losses.categorical_crossentropy,
                        "age": keras.losses.mean_squared_error},
                  metrics={"income": ["categorical_accuracy"], "gender": ["binary_accuracy", "auc"],
                           "age": ["mean_absolute_error"]},
                  loss_weights={name: float(weight) for name, weight in loss_weights.items()}, optimizer=optimizer)
    return model


# ------------------------------------------------------------------ balanced_loss_weights


def entropy(p):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def weights_with_std(targets):
    share = float(targets["gender"].mean())
    return {"age": 1.0 / float(targets["age"].std()), "income": 1.0 / entropy(targets["income"].mean(axis=0)),
            "gender": 1.0 / entropy(np.array([share, 1 - share]))}


def weights_log2(targets):
    share = float(targets["gender"].mean())
    p = targets["income"].mean(axis=0)
    p = p[p > 0]
    return {"age": 1.0 / float(targets["age"].var()), "income": 1.0 / float(-(p * np.log2(p)).sum()),
            "gender": 1.0 / entropy(np.array([share, 1 - share]))}


def weights_zero_groups_not_skipped(targets):
    p = targets["income"].mean(axis=0)
    share = float(targets["gender"].mean())
    with np.errstate(divide="ignore", invalid="ignore"):  # the mistake: log(0) for an absent group gives nan
        income = 1.0 / float(-(p * np.log(p)).sum())
    return {"age": 1.0 / float(targets["age"].var()), "income": income,
            "gender": 1.0 / entropy(np.array([share, 1 - share]))}


def weights_numpy_scalars(targets):
    share = targets["gender"].mean()
    return {"age": 1.0 / targets["age"].var(), "income": np.float32(1.0 / entropy(targets["income"].mean(axis=0))),
            "gender": np.float32(1.0 / entropy(np.array([share, 1 - share])))}


def weights_missing_gender(targets):
    return {"age": 1.0 / float(targets["age"].var()), "income": 1.0 / entropy(targets["income"].mean(axis=0))}


def weights_sample_variance(targets):
    """Wrong: the sample variance (divided by n - 1), not the MSE of always predicting the mean."""
    share = float(targets["gender"].mean())
    return {"age": 1.0 / float(targets["age"].var(ddof=1)), "income": 1.0 / entropy(targets["income"].mean(axis=0)),
            "gender": 1.0 / entropy(np.array([share, 1 - share]))}


def weights_gender_half_entropy(targets):
    """Wrong: the gender entropy leaves out the 1 - p term."""
    share = float(targets["gender"].mean())
    return {"age": 1.0 / float(targets["age"].var()), "income": 1.0 / entropy(targets["income"].mean(axis=0)),
            "gender": 1.0 / entropy(np.array([share]))}


def weights_written_differently(targets):
    from math import log

    ages = [float(a) for a in np.ravel(targets["age"])]
    mean = sum(ages) / len(ages)
    counts = np.asarray(targets["income"]).sum(axis=0)
    freqs = [float(c) / float(counts.sum()) for c in counts if c]
    share = float(np.mean(targets["gender"]))
    return {"gender": 1 / -(share * log(share) + (1 - share) * log(1 - share)),
            "income": 1 / -sum(f * log(f) for f in freqs),
            "age": len(ages) / sum((a - mean) ** 2 for a in ages)}


WRONG = {
    "build_profile_model": [
        Wrong("nested-trunk-with-a-conv-of-64", {"build_profile_model": lambda *a: profile_nested_trunk(
            *a, convs=(128, 256, 64, 256, 256))},
              {"test_profile_trunk": r"found Embedding\(50000, 256\) → Conv1D\(128, 5, relu\) → MaxPooling1D\(5\) → "
                                     r"Conv1D\(256, 5, relu\) → Conv1D\(64, 5, relu\)"}),
        Wrong("swapped-embedding", {"build_profile_model": profile(swap=True)},
              {"test_profile_trunk": r"found Embedding\(256, 50000\)",
               "test_profile_uses_arguments": r"Embedding\(8, 100\)"}),
        Wrong("age-with-relu", {"build_profile_model": profile(age_act="relu")},
              {"test_profile_age_head": "'age' head should be a Dense.1. with no activation.*has the activation "
                                        "'relu': leave the activation out"}),
        Wrong("age-with-a-relu-layer", {"build_profile_model": profile_relu_layer_on_age},
              {"test_profile_age_head": "'age' head .*has the activation 'relu'"}),
        Wrong("income-with-sigmoid", {"build_profile_model": profile(income_act="sigmoid")},
              {"test_profile_income_head": "'income' head should be a Dense.num_income_groups. with softmax.*"
                                           "the activation 'sigmoid': give it activation='softmax'"}),
        Wrong("gender-with-softmax", {"build_profile_model": profile(gender_act="softmax")},
              {"test_profile_gender_head": "'gender' head should be a Dense.1. with sigmoid; it has the activation "
                                           "'softmax': give it activation='sigmoid'"}),
        Wrong("income-has-its-own-dense", {"build_profile_model": profile(separate_trunks=True)},
              {"test_profile_heads_share_trunk": "same shared Dense", "test_profile_trunk": "same shared Dense"}),
        Wrong("narrow-convolutions", {"build_profile_model": profile(convs=(64, 128, 128, 128, 128))},
              {"test_profile_trunk": r"found .*Conv1D\(64, 5, relu\)"}),
        Wrong("strided-convolution", {"build_profile_model": profile(first_conv={"strides": 2})},
              {"test_profile_trunk": r"strides and padding left at their defaults.*Conv1D\(128, 5, relu, strides=2\)"}),
        Wrong("same-padding", {"build_profile_model": profile(first_conv={"padding": "same"})},
              {"test_profile_trunk": r"found .*Conv1D\(128, 5, relu, padding='same'\)"}),
        Wrong("overlapping-pooling", {"build_profile_model": profile(pool={"strides": 1})},
              {"test_profile_trunk": r"found .*MaxPooling1D\(5, strides=1\)"}),
        Wrong("leaky-relu-layer", {"build_profile_model": profile(leaky=True)},
              {"test_profile_trunk": r"found .*Conv1D\(128, 5, ReLU\(negative_slope=0.1\)\)"}),
        Wrong("ignores-its-arguments", {"build_profile_model": profile(fixed=True)},
              {"test_profile_uses_arguments": r"shape \(None, 4\)"}),
        Wrong("float-posts", {"build_profile_model": profile(dtype="float32")}, {"test_profile_input": "int32"}),
        Wrong("compiled", {"build_profile_model": profile(compiled=True)},
              {"test_profile_uncompiled": "should be returned uncompiled.*compiled with Adam.*remove the "
                                          r"model.compile\(...\) call"}),
        Wrong("frozen", {"build_profile_model": profile(trainable=False)}, {"test_profile_learns": "took the loss"}),
    ],
    "compile_profile_model": [
        Wrong("list-in-a-fixed-order", {"compile_profile_model": compile_with_list},
              {"test_compile_losses": "'age' should be trained with mean squared error.*it gets "
                                      "categorical_crossentropy",
               "test_compile_weights": "got the weights",
               "test_compile_age_metric_mae": "'age' output should report 'mae'.*reports age_accuracy"}),
        Wrong("sparse-income-loss", {"compile_profile_model": compile_sparse_income},
              {"test_compile_losses": "'income' should be trained with categorical cross-entropy.*it gets "
                                      "sparse_categorical_crossentropy"}),
        Wrong("income-from-logits", {"compile_profile_model": compile_losses_configured(
            keras.losses.CategoricalCrossentropy(from_logits=True), "binary_crossentropy")},
              {"test_compile_losses": "'income' computes .*configured with from_logits=True"}),
        Wrong("gender-label-smoothing", {"compile_profile_model": compile_losses_configured(
            "categorical_crossentropy", keras.losses.BinaryCrossentropy(label_smoothing=0.1))},
              {"test_compile_losses": "'gender' computes .*configured with label_smoothing=0.1"}),
        Wrong("default-optimizer-with-its-own-learning-rate", {"compile_profile_model": compile_fast_default},
              {"test_compile_optimizer": "RMSprop with learning_rate=0.05.*optimizer='rmsprop'"}),
        Wrong("weights-hard-coded", {"compile_profile_model": compile_classic_weights},
              {"test_compile_weights": r"'age': 0\.5"}),
        Wrong("list-losses-dict-weights", {"compile_profile_model": compile_mixed_forms},
              {"test_compile_weights": "same form"}),
        Wrong("no-metrics", {"compile_profile_model": compile_no_metrics},
              {"test_compile_age_metric_mae": "'age' output should report 'mae'.*reports no metric",
               "test_compile_income_metric_accuracy": "'income' output should report 'accuracy'",
               "test_compile_gender_metric_accuracy": "'gender' output should report 'accuracy'"}),
        Wrong("age-metric-mse", {"compile_profile_model": compile_with_metrics(
            {"age": ["mse"], "income": ["accuracy"], "gender": ["accuracy"]})},
              {"test_compile_age_metric_mae": "'age' output should report 'mae' .*mean absolute error.*age_mse"}),
        Wrong("income-binary-accuracy", {"compile_profile_model": compile_with_metrics(
            {"age": ["mae"], "income": ["binary_accuracy"], "gender": ["accuracy"]})},
              {"test_compile_income_metric_accuracy":
                   "'income' output should report 'accuracy' .*most probable income group.*income_binary_accuracy"}),
        Wrong("gender-categorical-accuracy", {"compile_profile_model": compile_with_metrics(
            {"age": ["mae"], "income": ["accuracy"], "gender": [keras.metrics.CategoricalAccuracy()]})},
              {"test_compile_gender_metric_accuracy":
                   "'gender' output should report 'accuracy' .*right side of 0.5.*gender_categorical_accuracy=1"}),
        Wrong("ignores-the-optimizer", {"compile_profile_model": compile_ignores_optimizer},
              {"test_compile_optimizer": "uses Adam"}),
        Wrong("returns-nothing", {"compile_profile_model": compile_no_return},
              {"test_compile_losses": "forget to return"}),
        Wrong("compiles-a-copy", {"compile_profile_model": compile_a_clone},
              {"test_compile_losses": "should compile the given model and return it; it returned another model",
               "test_compile_optimizer": "a copy"}),
    ],
    "balanced_loss_weights": [
        Wrong("standard-deviation", {"balanced_loss_weights": weights_with_std},
              {"test_balanced_age_weight_is_inverse_variance": "'age' should be 1 / the variance"}),
        Wrong("sample-variance", {"balanced_loss_weights": weights_sample_variance},
              {"test_balanced_age_weight_is_inverse_variance": "'age' should be 1 / the variance.*not n - 1"}),
        Wrong("log2", {"balanced_loss_weights": weights_log2},
              {"test_balanced_income_weight_is_inverse_entropy": "'income' should be 1 / the entropy"}),
        Wrong("absent-group-gives-nan", {"balanced_loss_weights": weights_zero_groups_not_skipped},
              {"test_balanced_weights_are_a_dict_of_floats": "finite positive Python float",
               "test_balanced_income_weight_is_inverse_entropy": "skipping groups"}),
        Wrong("gender-entropy-without-1-minus-p", {"balanced_loss_weights": weights_gender_half_entropy},
              {"test_balanced_gender_weight_is_inverse_entropy": r"'gender' should be 1 / the entropy of the two "
                                                                 r"frequencies \(p, 1 - p\)"}),
        Wrong("numpy-scalars", {"balanced_loss_weights": weights_numpy_scalars},
              {"test_balanced_weights_are_a_dict_of_floats": "float32"}),
        Wrong("missing-key", {"balanced_loss_weights": weights_missing_gender},
              {"test_balanced_gender_weight_is_inverse_entropy": "keys 'age', 'income' and 'gender'"}),
    ],
}

RIGHT = {
    "build_profile_model": [{"build_profile_model": profile()},
                            {"build_profile_model": profile_written_differently},
                            {"build_profile_model": profile_with_ops_and_explicit_defaults},
                            {"build_profile_model": profile_nested_trunk}],
    "compile_profile_model": [{"compile_profile_model": compile_written_differently},
                              {"compile_profile_model": compile_with_metric_names}],
    "balanced_loss_weights": [{"balanced_loss_weights": weights_written_differently}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson03", WRONG, RIGHT)
