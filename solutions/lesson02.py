"""Lesson 02 — multi-input models: reference solutions to the graded exercises.

Each exercise is a function with the exact name below; the grader in ``tests/grading/test_lesson02.py`` builds what
it returns and judges the graph (and, for the headline model, how it is compiled). The code between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` is what a student writes; the student edition keeps the signature and
docstring and replaces it with ``raise NotImplementedError``.
"""

from __future__ import annotations

import keras


def build_qa_model(
    text_vocabulary_size: int = 10000,
    question_vocabulary_size: int = 10000,
    answer_vocabulary_size: int = 500,
    text_embedding_dim: int = 64,
    question_embedding_dim: int = 32,
    text_units: int = 32,
    question_units: int = 16,
) -> keras.Model:
    """Exercise 1: the classic two-input question-answering model.

    - two inputs of word indices of any length: ``"text"`` and ``"question"``, each ``shape=(None,)``, ``int32``;
    - the text: ``Embedding(text_vocabulary_size, text_embedding_dim, mask_zero=True)`` then ``LSTM(text_units)``;
    - the question: ``Embedding(question_vocabulary_size, question_embedding_dim, mask_zero=True)`` then
      ``LSTM(question_units)``; the two branches share nothing;
    - concatenate the two LSTM outputs and end in a softmax ``Dense(answer_vocabulary_size)`` named ``"answer"``.

    ``mask_zero=True`` makes index 0 mean "padding": the LSTM skips those steps. Return the (uncompiled) model.
    """
    # BEGIN SOLUTION
    text = keras.Input(shape=(None,), dtype="int32", name="text")
    embedded_text = keras.layers.Embedding(text_vocabulary_size, text_embedding_dim, mask_zero=True)(text)
    encoded_text = keras.layers.LSTM(text_units)(embedded_text)

    question = keras.Input(shape=(None,), dtype="int32", name="question")
    embedded_question = keras.layers.Embedding(question_vocabulary_size, question_embedding_dim,
                                               mask_zero=True)(question)
    encoded_question = keras.layers.LSTM(question_units)(embedded_question)

    merged = keras.layers.concatenate([encoded_text, encoded_question])
    answer = keras.layers.Dense(answer_vocabulary_size, activation="softmax", name="answer")(merged)
    return keras.Model([text, question], answer, name="question_answering")
    # END SOLUTION


def build_headline_model(vocabulary_size: int = 10000, sequence_length: int = 100,
                         embedding_dim: int = 512) -> keras.Model:
    """Exercise 2: the classic two-input, two-output news-headline model, compiled.

    - input ``"main_input"``: the headline, ``sequence_length`` word indices (``int32``); input ``"aux_input"``: 5
      extra features (``float32``);
    - the headline goes through ``Embedding(vocabulary_size, embedding_dim)`` and ``LSTM(32)``;
    - the auxiliary output ``"aux_output"``, ``Dense(1, sigmoid)``, reads the LSTM's output directly;
    - the LSTM's output concatenated with ``aux_input`` goes through three ``Dense(64, relu)`` layers to the main
      output ``"main_output"``, ``Dense(1, sigmoid)``;
    - compile with ``optimizer="rmsprop"``, binary cross-entropy for both outputs, and loss weights 1.0 for
      ``main_output`` and 0.2 for ``aux_output``. Return the compiled model.

    The grader reads each compiled loss by what it computes: use Keras' built-in losses with their default settings.
    """
    # BEGIN SOLUTION
    main_input = keras.Input(shape=(sequence_length,), dtype="int32", name="main_input")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim)(main_input)
    lstm_out = keras.layers.LSTM(32)(x)
    aux_output = keras.layers.Dense(1, activation="sigmoid", name="aux_output")(lstm_out)

    aux_input = keras.Input(shape=(5,), name="aux_input")
    x = keras.layers.concatenate([lstm_out, aux_input])
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    main_output = keras.layers.Dense(1, activation="sigmoid", name="main_output")(x)

    model = keras.Model([main_input, aux_input], [main_output, aux_output], name="headline")
    model.compile(optimizer="rmsprop",
                  loss={"main_output": "binary_crossentropy", "aux_output": "binary_crossentropy"},
                  loss_weights={"main_output": 1.0, "aux_output": 0.2})
    return model
    # END SOLUTION
