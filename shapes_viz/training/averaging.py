"""The optimizer of a training run, with Polyak averaging of the weights done in three operations a variable.

    optimizer = make_optimizer(keras, "adam", 1e-3, ema_momentum=0.99)
    # after every step: average = m * average + (1 - m) * weights  (on the first step: average = weights)

Keras' own averaging (`use_ema=True`) recomputes the momentum for every variable and spends eight small
operations a variable on each step: on the project's 2-core machine, 8-11% of an epoch of the tutorial's
network (1.25-1.32 s against 1.11-1.19 s). Here the step's share, 1 - m (1 on the first step, so the average
starts at the weights), is computed once, and each average moves by `share * (average - weights)`: the same
numbers (tests/test_training_ema.py recomputes them), three operations a variable. Keras' `SwapEMAWeights`
callback and everything else that reads the averages work as with Keras' own, which this class only overrides.

TensorFlow and Keras are imported by the caller (`keras` is passed in), not with this module.
"""

from __future__ import annotations

from shapes_viz.errors import TrainingError

OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(keras, name: str, learning_rate: float, ema_momentum: float = 0.0):
    """A Keras optimizer: `name` in OPTIMIZERS at `learning_rate`; with `ema_momentum` in (0, 1), it keeps the
    moving average of the weights (see the module's docstring).

    Raises:
        TrainingError: an unknown optimizer name or a momentum outside [0, 1).
    """
    bases = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    if name not in bases:
        raise TrainingError(f"Unknown optimizer. Expected one of {', '.join(OPTIMIZERS)}. Received: {name!r}")
    if not 0.0 <= ema_momentum < 1.0:
        raise TrainingError(f"ema_momentum must be in [0, 1). Received: {ema_momentum!r}")
    if not ema_momentum:
        return bases[name](learning_rate=learning_rate)
    return _averaging(keras, bases[name])(learning_rate=learning_rate, use_ema=True, ema_momentum=ema_momentum)


def _averaging(keras, base):
    """`base` (a Keras optimizer class) with the cheaper update of its averages."""
    ops = keras.ops

    class Averaging(base):
        def _update_model_variables_moving_average(self, trainable_variables):
            share = ops.where(ops.equal(self.iterations, 0), 1.0, 1.0 - self.ema_momentum)
            for variable, average in zip(trainable_variables, self._model_variables_moving_average):
                if average is not None:
                    average.assign_sub(ops.multiply(ops.cast(share, average.dtype), ops.subtract(average, variable)))

    Averaging.__name__ = Averaging.__qualname__ = f"Averaging{base.__name__}"
    return Averaging
