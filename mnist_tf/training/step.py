"""The training step: what ``model.fit`` runs on every batch.

The step itself, :func:`train_step`, on a batch (x, y) of B images out of a global batch of N::

    z = model(x, training=True)                  # logits [B, 10], dropout on
    L = Σ_b CE(y_b, softmax(z_b)) / N            # the batch's mean loss (N = B on one device)
    g = ∂(S·L)/∂θ                                # tf.GradientTape replays the forward backwards
    θ ← optimizer.apply_gradients(zip(g, θ))     # Adam (mnist_tf/optimizers/adam.py)

S is 1 except under ``mixed_float16``, whose ``LossScaleOptimizer`` multiplies the
loss so that small gradients survive float16, then divides them by S again (and
skips the step when one is not finite). :func:`manual_train_step` is the same step
with the hand-written backward pass (``mnist_tf.backprop``) in place of the tape.

Everything else a real run needs wraps the step once, in :func:`make_train_step`:

- ``tf.distribute``: ``strategy.run`` runs the step on every replica with its share
  of the batch. Dividing the summed loss by the *global* N (not a per-replica
  mean) makes the replicas' gradients, summed by ``apply_gradients``, the gradient
  of the global batch's mean; on one device N is just B.
- the running loss and accuracy sums on the device (``StepMetrics``), read back
  every ``log_every`` steps rather than after every step;
- XLA (``jit_compile``) of the per-replica step;
- the gradients the optimizer applied (summed over replicas, divided by S: the
  same on every replica), returned for TensorBoard's histograms. They are already
  on the device, so returning them costs no computation (``bin/benchmark.py``
  measures it: BUILD_NOTES.md).

:func:`make_train_loop` runs n such steps in one call (Keras's
``steps_per_execution``): a ``tf.while_loop`` over the dataset's iterator inside the
graph, so Python is visited once per n steps.
"""

import tensorflow as tf

from mnist_tf import backprop, losses, metrics, precision

IMAGES_SPEC = tf.TensorSpec([None, 28, 28, 1], tf.float32, name="images")
LABELS_SPEC = tf.TensorSpec([None], tf.int32, name="labels")


def train_step(model, optimizer, images, labels, global_batch, label_smoothing=0.0):
    """One step of gradient descent on a batch; returns (L, logits z, the applied gradients).

    ``global_batch`` is N of the module docstring's formula; ``label_smoothing`` ε
    trains against the targets (1 − ε)·onehot + ε/10.
    """
    with tf.GradientTape() as tape:
        logits = precision.cast_logits(model(images, training=True))  # float32 for the loss
        loss = losses.scaled_sparse_categorical_crossentropy(labels, logits, global_batch,
                                                             label_smoothing)
        scaled = optimizer.scale_loss(loss)                    # S·L (S = 1 but under float16)
    variables = model.trainable_variables
    gradients = tape.gradient(scaled, variables)
    applied = optimizer.apply_gradients(zip(gradients, variables))
    return loss, logits, applied


def manual_train_step(model, optimizer, images, labels, global_batch, label_smoothing=0.0):
    """:func:`train_step` with the hand-written backward pass (``mnist_tf.backprop``) instead of
    the tape: the same numbers, with no automatic differentiation."""
    scale = optimizer.scale_loss(tf.constant(1.0))  # S
    loss, logits, gradients = backprop.loss_logits_and_gradients(
        model, images, labels, training=True, global_batch_size=global_batch,
        label_smoothing=label_smoothing, loss_scale=scale)
    applied = optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss, logits, applied


TRAIN_STEPS = {"tape": train_step, "manual": manual_train_step}


def make_train_step(model, optimizer, strategy=None, jit_compile=False, step_metrics=None,
                    step=train_step, label_smoothing=0.0, input_signature=None):
    """Wraps ``step`` once for a run: a ``tf.function`` ``(images, labels) -> results``.

    Args:
      model: called as ``model(images, training=True)`` → logits [B, 10]; built
        (under a strategy: in its scope).
      optimizer: has ``scale_loss(loss)`` and ``apply_gradients(pairs)`` returning
        the gradients it applied.
      strategy: a ``tf.distribute.Strategy``; None for the default (one device).
      jit_compile: compile the per-replica step with XLA.
      step_metrics: a :class:`~mnist_tf.training.step_metrics.StepMetrics` each step
        adds its loss and counts to, on the device.
      step: :func:`train_step` or :func:`manual_train_step` (``TRAIN_STEPS``).
      label_smoothing: ε of the loss.
      input_signature: defaults to (images [None, 28, 28, 1] float32, labels [None]
        int32); pass a distributed dataset's ``element_spec`` under a strategy, or
        float64 images for a float64 model.

    Returns:
      ``train_step(images, labels)`` → ``{"loss": L, "correct": Σ correct, "count": N,
      "gradients": [∂L/∂θ]}``, summed over every replica of every worker, so that
      ``correct / count`` is the global batch's accuracy.
    """
    one_step = _distributed_step(model, optimizer, strategy, jit_compile, step_metrics, step,
                                 label_smoothing)
    return tf.function(one_step, input_signature=input_signature or (IMAGES_SPEC, LABELS_SPEC),
                       autograph=False)


def make_train_loop(model, optimizer, strategy=None, jit_compile=False, step_metrics=None,
                    step=train_step, label_smoothing=0.0):
    """``train_steps(iterator, n)``: n steps of :func:`make_train_step` in one ``tf.function``
    call, taking their batches from ``iterator``; returns the last step's applied gradients.

    ``n`` is a tensor, so a shorter group (an epoch's last) does not retrace. The
    figures each step adds to ``step_metrics`` are those of n separate calls.
    Arguments as :func:`make_train_step`'s.
    """
    one_step = _distributed_step(model, optimizer, strategy, jit_compile, step_metrics, step,
                                 label_smoothing)

    @tf.function(autograph=False)
    def train_steps(iterator, n):
        def body(i, _):
            return i + 1, one_step(*iterator.get_next())["gradients"]

        zeros = [tf.zeros_like(v) for v in model.trainable_variables]
        return tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), zeros), name="steps")[1]

    return train_steps


def _distributed_step(model, optimizer, strategy, jit_compile, step_metrics, step,
                      label_smoothing):
    """``step`` on every replica through ``strategy.run``, its results summed over replicas."""
    strategy = strategy or tf.distribute.get_strategy()
    if strategy is not tf.distribute.get_strategy() and not model.trainable_variables:
        raise ValueError("build the model in the strategy's scope before making its training "
                         "step (models.build(model) under strategy.scope())")

    def replica_step(images, labels):
        local = tf.cast(tf.shape(labels)[0], images.dtype)
        global_batch = tf.distribute.get_replica_context().all_reduce("sum", local)  # N
        loss, logits, applied = step(model, optimizer, images, labels, global_batch,
                                     label_smoothing)
        return loss, metrics.correct_count(labels, logits), global_batch, applied

    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True, autograph=False)

    def one_step(images, labels):
        loss, correct, global_batch, applied = strategy.run(replica_step, args=(images, labels))
        first = lambda value: strategy.experimental_local_results(value)[0]  # equal on all
        out = {"loss": strategy.reduce("sum", loss, axis=None),
               "correct": tf.cast(strategy.reduce("sum", correct, axis=None), tf.float32),
               "count": tf.cast(first(global_batch), tf.float32),
               "gradients": [first(g) for g in applied]}
        if step_metrics is not None:
            step_metrics.add(out["loss"], out["correct"], out["count"])
        return out

    return one_step


def make_eval_step(model):
    """Returns ``eval_step(images, labels) -> {"loss_sum", "correct", "predictions"}``:
    what ``model.evaluate`` runs per batch.

    Dropout is off (``training=False``). The loss is summed, not averaged, so
    that a caller can add batches of different sizes and divide once.
    Evaluation runs on one device even under a strategy: reading mirrored
    variables from the cross-replica context is allowed and evaluation is cheap.
    """

    @tf.function(input_signature=(IMAGES_SPEC, LABELS_SPEC), autograph=False)
    def eval_step(images, labels):
        logits = precision.cast_logits(model(images, training=False))
        per_example = losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        return {"loss_sum": tf.reduce_sum(per_example),
                "correct": tf.cast(metrics.correct_count(labels, logits), tf.float32),
                "predictions": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    return eval_step
