"""Layers a grader may hand to a submission, which both the judge and the worker know.

A grader cannot hand over its own Python code (it would run in the worker, where the submission could change what
it records), so what may cross is defined here, in the engine, and rebuilt on each side from its Keras config.

:class:`SpyBlock` is the ``block`` the lesson 05 grader hands to ``build_resnet``: a Keras layer with
``residual_block``'s signature and no weights. Each call ``block(x, filters, downsample=...)`` keeps ``filters`` and
``downsample`` as the arguments of its node, so the returned model's graph tells which blocks were asked for, in
which order and on which tensor; it returns a tensor of the shape a residual block would: height and width halved
(rounded up) when downsampling, ``filters`` channels.
"""

from __future__ import annotations

import keras

PACKAGE = "gradekit"


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpyBlock(keras.layers.Layer):
    """A weightless stand-in for a residual block that records how it is called."""

    def __call__(self, x, filters, downsample=False, **kwargs):
        return super().__call__(x, filters=int(filters), downsample=bool(downsample), **kwargs)

    def call(self, x, filters, downsample=False):
        if downsample:
            x = keras.ops.average_pool(x, 2, strides=2, padding="same")
        return keras.ops.repeat(keras.ops.mean(x, axis=-1, keepdims=True), filters, axis=-1)


ENGINE_CLASSES = {"SpyBlock": SpyBlock}  # the classes evidence may name besides Keras' own
