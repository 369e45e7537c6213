"""Where a run's steps execute, and in which precision.

    --distribute none         one device (the default)
    --distribute mirrored     data-parallel over every local device: TensorFlow's
                              MirroredStrategy, or Keras' own DataParallel on JAX
    --distribute multiworker  data-parallel over several hosts: TensorFlow's
                              MultiWorkerMirroredStrategy, configured by TF_CONFIG

The batch stays global: `--batch-size 64` on 4 replicas gives each replica 16 rows (replica r
always gets rows r·16 … r·16+15, so a stream row and its carried state stay on one replica), and
the loss is the mean over all 64 rows. The gradient is therefore the one a single device computes
for the same batch, and `--lr` means the same thing; scale the batch and the rate yourself if you
want more rows per replica.

Precision (`--precision mixed`): the embedding and the output projection compute in bfloat16
(variables stay float32); the recurrent layers and the loss stay float32 — cuDNN's fused LSTM
kernel and a cell state summed over hundreds of steps both want float32, and on GPUs from Ampere
on, float32 matmuls already run on TF32 tensor cores. Where bfloat16 has no fast path (CPUs,
GPUs before compute capability 8.0) the run stays float32 and says so. float16 would need loss
scaling, which charlm does not do.

CHARLM_CPU_REPLICAS=N splits a TensorFlow CPU into N logical devices, so `--distribute mirrored`
can be tried (and is tested) on a machine without GPUs.
"""

from __future__ import annotations

import contextlib
import json
import os

from charlm.errors import UserError
_STRATEGIES: dict = {}  # mode → the process's tf.distribute strategy


def mixed_policy(device: str, compute_capability: tuple | None = None) -> tuple[str, str]:
    """(Keras dtype policy, why) for --precision mixed on `device` ("cpu", "gpu", "tpu")."""
    if device == "tpu":
        return "mixed_bfloat16", "bfloat16 on the TPU"
    if device == "gpu" and compute_capability and tuple(compute_capability) >= (8, 0):
        cc = ".".join(map(str, compute_capability))
        return "mixed_bfloat16", f"bfloat16 on the GPU (compute capability {cc})"
    if device == "gpu":
        return "float32", ("this GPU has no bfloat16 tensor cores (compute capability below 8.0) "
                           "and float16 would need loss scaling: training in float32")
    return "float32", "a CPU has no faster half-precision path: training in float32"


def _gpu_compute_capability():
    from charlm import backend

    if backend.name() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
        return details.get("compute_capability")
    if backend.name() == "jax":
        import jax

        capability = getattr(jax.devices()[0], "compute_capability", None)  # e.g. "9.0"
        return tuple(int(p) for p in str(capability).split(".")) if capability else None
    return None


def set_precision(precision: str, log) -> str:
    """Set Keras' global dtype policy for --precision → the policy's name. Call before building
    the model; charlm.model.model keeps the recurrent layers float32 under any policy."""
    import keras

    from charlm import backend

    policy = "float32"
    if precision == "mixed":
        device = backend.device()
        policy, why = mixed_policy(device, _gpu_compute_capability() if device == "gpu" else None)
        log(f"--precision mixed: {why}")
    keras.config.set_dtype_policy(policy)
    return policy


class Placement:
    """The strategy of a run: `scope()` to create variables in, `replicas`, `is_chief` (the one
    process that writes checkpoints and metrics), and `strategy` (TensorFlow's, or None)."""

    def __init__(self, mode: str, batch_size: int):
        from charlm import backend

        self.mode, self.strategy, self.distribution = mode, None, None
        self.replicas, self.is_chief = 1, True
        if mode == "none":
            return
        if backend.name() == "tensorflow":
            self._tensorflow(mode)
        elif backend.name() == "jax" and mode == "mirrored":
            self._jax()
        else:
            raise UserError(f"--distribute {mode} runs on the TensorFlow backend (mirrored also on "
                            f"JAX), not on {backend.name()}; set KERAS_BACKEND=tensorflow")
        if batch_size % self.replicas:
            raise UserError(f"--batch-size {batch_size} does not split over {self.replicas} "
                            f"replicas; use a multiple of {self.replicas}")

    def _tensorflow(self, mode: str):
        import tensorflow as tf

        if mode == "multiworker":
            self.is_chief = is_chief_worker()
        if mode not in _STRATEGIES:  # one per process: a strategy's collectives start once
            _split_cpu()
            if mode == "multiworker":
                _STRATEGIES[mode] = tf.distribute.MultiWorkerMirroredStrategy()
            else:  # every GPU; without one, every (logical) CPU device
                gpus = tf.config.list_logical_devices("GPU")
                cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
                _STRATEGIES[mode] = tf.distribute.MirroredStrategy(None if gpus else cpus)
        self.strategy = _STRATEGIES[mode]
        self.replicas = self.strategy.num_replicas_in_sync

    def _jax(self):
        import jax
        import keras

        self.distribution = keras.distribution.DataParallel(devices=jax.devices())
        self.replicas = len(jax.devices())

    def barrier(self) -> None:
        """Multiworker: wait until every worker gets here (the chief's last write is complete
        before another worker may read it)."""
        if self.mode == "multiworker":
            import tensorflow as tf

            @tf.function  # (eager collectives print a warning on every call)
            def all_reduce_one():
                ones = self.strategy.run(lambda: tf.ones([]))
                return self.strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)

            all_reduce_one()

    def scope(self):
        """Create the model and optimizer in here: their variables are mirrored on each replica."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()


def is_chief_worker() -> bool:
    """Whether TF_CONFIG makes this process the chief: the "chief" task, or worker 0 when the
    cluster names no chief. Cheap (no TensorFlow), so the trainer can decide before Keras loads
    whether this process takes the run folder's lock."""
    config = _tf_config()
    kind, index = config["task"]["type"], int(config["task"].get("index", 0))
    return kind == "chief" or (kind == "worker" and index == 0
                               and "chief" not in config.get("cluster", {}))


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("--distribute multiworker needs TF_CONFIG (the cluster's workers and "
                        "this process's task); see the multi-worker examples in docs/training.md")
    try:
        config = json.loads(raw)
        config["task"]["type"]
    except (ValueError, KeyError, TypeError):
        raise UserError("TF_CONFIG is not a JSON object with \"cluster\" and \"task\": {\"type\", "
                        "\"index\"}; see the multi-worker examples in docs/training.md")
    return config


def _split_cpu() -> None:
    """CHARLM_CPU_REPLICAS=N: N logical CPU devices (must happen before TensorFlow starts)."""
    count = int(os.environ.get("CHARLM_CPU_REPLICAS", "0") or 0)
    if count < 2:
        return
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:  # TensorFlow already started its devices (e.g. in a test process)
        pass
