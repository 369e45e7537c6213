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

from charlm.errors import UserError
from charlm.evaluate import token_nll


def _clip(grads, clip_norm):
    norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
    scale = ops.minimum(1.0, clip_norm / (norm + 1e-6))
    return [g * scale for g in grads], norm


class TrainStep:
    """step(x [B,T], y [B,T], states) → (loss, grad_norm, new_states), updating the weights.

    `placement` (charlm.training.distribute.Placement) spreads the rows of each batch over its
    replicas; build the model and optimizer in its scope() first."""

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer, clip_norm: float,
                 placement=None):
        self.model, self.optimizer, self.clip_norm = model, optimizer, clip_norm
        self.strategy = getattr(placement, "strategy", None)
        self.distribution = getattr(placement, "distribution", None)
        optimizer.build(model.trainable_variables)
        self.backend = keras.backend.backend()
        if self.backend == "tensorflow":
            self._fn = self._tf_step() if self.strategy is None else self._tf_replicated_step()
        elif self.backend == "jax":
            self._fn = self._jax_step()
        else:
            raise UserError(f"training runs on the tensorflow and jax backends, not "
                            f"{self.backend}; set KERAS_BACKEND=tensorflow (or jax)")

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

    def _tf_replicated_step(self):
        """The same step under a tf.distribute strategy: replica r reads rows r·b … r·b+b-1 of
        the global batch (b = B / replicas), so its carried states stay its own."""
        import tensorflow as tf

        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        variables, replicas = model.trainable_variables, strategy.num_replicas_in_sync
        SUM = tf.distribute.ReduceOp.SUM

        def replica_step(x, y, states):
            with tf.GradientTape() as tape:
                logits, *new_states = model([x, *states], training=True)
                # this replica's share of the mean over the global batch: Σ nll / (B·T)
                tokens = tf.cast(tf.size(y) * replicas, "float32")
                loss = ops.sum(token_nll(y, logits)) / tokens
            # All-reduce first, so the norm clipped is the global batch's, as on one device …
            grads = tf.distribute.get_replica_context().all_reduce(
                SUM, tape.gradient(loss, variables))
            grads, norm = _clip(grads, self.clip_norm)
            # … then optimizer.apply sums the replicas' gradients again: give it 1/N of each.
            optimizer.apply([g / replicas for g in grads], variables)
            return loss, norm, [tf.stop_gradient(s) for s in new_states]

        @tf.function(reduce_retracing=True)
        def step(inputs):
            loss, norm, new_states = strategy.run(replica_step, args=inputs)
            return (strategy.reduce(SUM, loss, axis=None),
                    strategy.reduce(tf.distribute.ReduceOp.MEAN, norm, axis=None),
                    [strategy.gather(s, axis=0) for s in new_states])  # [B, H] in row order

        def run(x, y, states):
            rows = len(x) // replicas

            def part(context):
                r = context.replica_id_in_sync_group
                return tuple(tf.convert_to_tensor(a[r * rows:(r + 1) * rows])
                             for a in (x, y)) + ([s[r * rows:(r + 1) * rows] for s in states],)

            return step(strategy.experimental_distribute_values_from_function(part))

        return run

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
            if self.distribution is not None:  # DataParallel: rows sharded over the devices
                x, y, *states = (_shard(self.distribution, a) for a in (x, y, *states))
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


def _shard(distribution, array):
    """A global batch array, split by rows over DataParallel's devices (JAX)."""
    import jax

    return jax.device_put(array, distribution.get_data_layout(array.shape).backend_layout)
