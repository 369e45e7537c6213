"""The compiled train step: the one place where training differs per backend.

`TrainStep` runs one optimisation step (forward, loss, backward, global-norm clipping, optimizer
update) and returns the final recurrent states, detached, for the next window. The model itself
is plain Keras; gradients need the backend's own autodiff, so this wraps it in a `tf.function`
with a GradientTape on TensorFlow and in `jax.jit` (stateless_call / stateless_apply) on JAX,
compiled once and reused every step. (Forward-only functions compile through
`charlm.backend.compile_function`.)
"""

from __future__ import annotations

from charlm.backend import import_quietly

import_quietly()

import keras  # noqa: E402
from keras import ops  # noqa: E402

from charlm.evaluate import token_nll


def _clip(grads, clip_norm):
    norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
    scale = ops.minimum(1.0, clip_norm / (norm + 1e-6))
    return [g * scale for g in grads], norm


class TrainStep:
    """step(x [B,T], y [B,T], states) → (loss, grad_norm, new_states), updating the weights."""

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer, clip_norm: float):
        self.model, self.optimizer, self.clip_norm = model, optimizer, clip_norm
        optimizer.build(model.trainable_variables)
        self.backend = keras.backend.backend()
        if self.backend == "tensorflow":
            self._fn = self._tf_step()
        elif self.backend == "jax":
            self._fn = self._jax_step()
        else:
            raise NotImplementedError(f"training supports the tensorflow and jax backends, "
                                      f"not {self.backend}; set KERAS_BACKEND=tensorflow")

    def __call__(self, x, y, states, learning_rate: float):
        self.optimizer.learning_rate = learning_rate
        return self._fn(x, y, states)

    def _tf_step(self):
        import tensorflow as tf

        model, optimizer, variables = self.model, self.optimizer, self.model.trainable_variables

        @tf.function(reduce_retracing=True)
        def step(x, y, states):
            with tf.GradientTape() as tape:
                logits, *new_states = model([x, *states], training=True)
                loss = ops.mean(token_nll(y, logits))
            grads, norm = _clip(tape.gradient(loss, variables), self.clip_norm)
            optimizer.apply(grads, variables)
            return loss, norm, [tf.stop_gradient(s) for s in new_states]

        return step

    def _jax_step(self):
        import jax

        model, optimizer = self.model, self.optimizer

        def loss_fn(trainable, non_trainable, x, y, states):
            outputs, non_trainable = model.stateless_call(
                trainable, non_trainable, [x, *states], training=True)
            logits, *new_states = outputs
            return ops.mean(token_nll(y, logits)), (non_trainable, new_states)

        @jax.jit
        def step(trainable, non_trainable, opt_vars, x, y, states):
            (loss, (non_trainable, new_states)), grads = jax.value_and_grad(
                loss_fn, has_aux=True)(trainable, non_trainable, x, y, states)
            grads, norm = _clip(grads, self.clip_norm)
            trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
            new_states = [jax.lax.stop_gradient(s) for s in new_states]
            return loss, norm, new_states, trainable, non_trainable, opt_vars

        def run(x, y, states):
            # JAX is functional: read the variables' values, step, write them back. The write-back
            # keeps model/optimizer variables current for checkpoints and sampling.
            out = step([v.value for v in model.trainable_variables],
                       [v.value for v in model.non_trainable_variables],
                       [v.value for v in optimizer.variables], x, y, states)
            loss, norm, new_states, trainable, non_trainable, opt_vars = out
            for group, values in ((model.trainable_variables, trainable),
                                  (model.non_trainable_variables, non_trainable),
                                  (optimizer.variables, opt_vars)):
                for variable, value in zip(group, values):
                    variable.assign(value)
            return loss, norm, new_states

        return run
