"""The lesson 03 grader, tested: wrong profiling models, compile functions and loss weights lose the right points
with the right feedback, and correct ones written differently get full marks."""

from __future__ import annotations

import keras
import numpy as np

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson03 as grader

L = keras.layers


# ------------------------------------------------------------------ build_profile_model


def profile(swap=False, age_act=None, gender_act="sigmoid", separate_trunks=False, convs=(128, 256, 256, 256, 256),
            fixed=False, dtype="int32", trainable=True):
    """A profiling-model builder with one thing changed (the defaults give the correct model)."""

    def build_profile_model(vocabulary_size=50000, embedding_dim=256, num_income_groups=10):
        if fixed:
            vocabulary_size, embedding_dim, num_income_groups = 50000, 256, 10
        posts = keras.Input((None,), dtype=dtype, name="posts")
        embedding = L.Embedding(embedding_dim, vocabulary_size) if swap else L.Embedding(vocabulary_size, embedding_dim)
        x = embedding(posts)
        x = L.Conv1D(convs[0], 5, activation="relu", trainable=trainable)(x)
        x = L.MaxPooling1D(5)(x)
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
        income = L.Dense(num_income_groups, activation="softmax", name="income", trainable=trainable)(
            shared() if separate_trunks else h)
        gender = L.Dense(1, activation=gender_act, name="gender", trainable=trainable)(h)
        return keras.Model(posts, [age, income, gender])

    return build_profile_model


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


def compile_written_differently(model, loss_weights, optimizer="rmsprop"):
    kinds = {"age": keras.losses.MeanSquaredError(), "income": keras.losses.CategoricalCrossentropy(),
             "gender": keras.losses.binary_crossentropy}
    metrics = {"age": keras.metrics.MeanAbsoluteError(), "income": keras.metrics.CategoricalAccuracy(),
               "gender": keras.metrics.BinaryAccuracy()}
    names = model.output_names  # lists, both in the order of the model's outputs
    model.compile(optimizer, loss=[kinds[n] for n in names], loss_weights=[loss_weights[n] for n in names],
                  metrics=[[metrics[n]] for n in names])
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
    return {"age": 1.0 / float(targets["age"].var()), "income": 1.0 / float(-(p * np.log(p)).sum()),
            "gender": 1.0 / entropy(np.array([share, 1 - share]))}


def weights_numpy_scalars(targets):
    share = targets["gender"].mean()
    return {"age": 1.0 / targets["age"].var(), "income": np.float32(1.0 / entropy(targets["income"].mean(axis=0))),
            "gender": np.float32(1.0 / entropy(np.array([share, 1 - share])))}


def weights_missing_gender(targets):
    return {"age": 1.0 / float(targets["age"].var()), "income": 1.0 / entropy(targets["income"].mean(axis=0))}


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
        Wrong("swapped-embedding", {"build_profile_model": profile(swap=True)},
              {"test_profile_trunk": r"found Embedding\(256, 50000\)",
               "test_profile_uses_arguments": r"Embedding\(8, 100\)"}),
        Wrong("age-with-relu", {"build_profile_model": profile(age_act="relu")},
              {"test_profile_heads": "'age' head needs no activation"}),
        Wrong("gender-with-softmax", {"build_profile_model": profile(gender_act="softmax")},
              {"test_profile_heads": "'gender' head needs activation='sigmoid'"}),
        Wrong("income-has-its-own-dense", {"build_profile_model": profile(separate_trunks=True)},
              {"test_profile_heads_share_trunk": "same shared Dense", "test_profile_trunk": "same shared Dense"}),
        Wrong("narrow-convolutions", {"build_profile_model": profile(convs=(64, 128, 128, 128, 128))},
              {"test_profile_trunk": r"found .*Conv1D\(64, 5, relu\)"}),
        Wrong("ignores-its-arguments", {"build_profile_model": profile(fixed=True)},
              {"test_profile_uses_arguments": r"shape \(None, 4\)"}),
        Wrong("float-posts", {"build_profile_model": profile(dtype="float32")}, {"test_profile_input": "int32"}),
        Wrong("frozen", {"build_profile_model": profile(trainable=False)}, {"test_profile_learns": "took the loss"}),
    ],
    "compile_profile_model": [
        Wrong("list-in-a-fixed-order", {"compile_profile_model": compile_with_list},
              {"test_compile_losses": "'age' should be trained with mean_squared_error",
               "test_compile_weights": "got the weights"}),
        Wrong("sparse-income-loss", {"compile_profile_model": compile_sparse_income},
              {"test_compile_losses": "'income' should be trained with categorical_crossentropy"}),
        Wrong("weights-hard-coded", {"compile_profile_model": compile_classic_weights},
              {"test_compile_weights": r"'age': 0\.5"}),
        Wrong("list-losses-dict-weights", {"compile_profile_model": compile_mixed_forms},
              {"test_compile_weights": "same form"}),
        Wrong("no-metrics", {"compile_profile_model": compile_no_metrics},
              {"test_compile_metrics": "give metrics per output"}),
        Wrong("ignores-the-optimizer", {"compile_profile_model": compile_ignores_optimizer},
              {"test_compile_optimizer": "uses Adam"}),
        Wrong("returns-nothing", {"compile_profile_model": compile_no_return},
              {"test_compile_losses": "forget to return"}),
    ],
    "balanced_loss_weights": [
        Wrong("standard-deviation", {"balanced_loss_weights": weights_with_std},
              {"test_balanced_weights_values": "'age' should be 1 / the variance"}),
        Wrong("log2", {"balanced_loss_weights": weights_log2},
              {"test_balanced_weights_values": "'income' should be 1 / the entropy"}),
        Wrong("absent-group-gives-nan", {"balanced_loss_weights": weights_zero_groups_not_skipped},
              {"test_balanced_weights_are_a_dict_of_floats": "finite positive Python float",
               "test_balanced_weights_values": "skipping groups"}),
        Wrong("numpy-scalars", {"balanced_loss_weights": weights_numpy_scalars},
              {"test_balanced_weights_are_a_dict_of_floats": "float32"}),
        Wrong("missing-key", {"balanced_loss_weights": weights_missing_gender},
              {"test_balanced_weights_values": "keys 'age', 'income' and 'gender'"}),
    ],
}

RIGHT = {
    "build_profile_model": [{"build_profile_model": profile()},
                            {"build_profile_model": profile_written_differently}],
    "compile_profile_model": [{"compile_profile_model": compile_written_differently}],
    "balanced_loss_weights": [{"balanced_loss_weights": weights_written_differently}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson03", WRONG, RIGHT)
