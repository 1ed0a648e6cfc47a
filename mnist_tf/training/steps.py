"""The training and evaluation steps: what ``model.fit`` and ``model.evaluate`` run per batch.

One training step on a batch (x, y) of B images::

    z = float32(model(x, training=True))          # logits [B, 10], dropout on
    L = Σ_b CE(y_b, z_b) / N                      # N = the global batch size
    g = ∂(S·L)/∂θ                                 # tf.GradientTape (or mnist_tf.backprop)
    θ ← optimizer.apply_gradients(zip(g, θ))      # Adam by default

S is 1 except under ``mixed_float16``, whose ``LossScaleOptimizer`` scales the
loss so that small gradients survive float16, then unscales them (and skips
the step when one is not finite); the logits are cast to float32 before the
loss whatever the precision policy (``mnist_tf.precision``).

Dividing the summed per-example loss by the *global* batch size N (rather than
taking a per-replica mean) is what makes the gradients summed across replicas
under ``tf.distribute`` equal the single-device gradient of the batch mean; on
one device N is just B.

Both steps are ``tf.function``s with an ``input_signature`` whose batch
dimension is ``None``, so they are traced once and never again, whatever the
batch size (the last, partial batch of an epoch included). Under a strategy the
per-replica work runs through ``strategy.run`` and the results are summed
across replicas; without one the default strategy makes the same code run on a
single device.
"""

import tensorflow as tf

from mnist_tf import backprop, losses, metrics, precision

IMAGES_SPEC = tf.TensorSpec([None, 28, 28, 1], tf.float32, name="images")
LABELS_SPEC = tf.TensorSpec([None], tf.int32, name="labels")


def _global_batch_size(labels, dtype) -> tf.Tensor:
    """The number of examples in this step across all replicas, in ``dtype``."""
    local = tf.cast(tf.shape(labels)[0], dtype)
    return tf.distribute.get_replica_context().all_reduce("sum", local)


def tape_gradients(model, optimizer, images, labels, global_batch, label_smoothing=0.0):
    """(loss, logits, ∂L/∂θ) by ``tf.GradientTape``: the forward pass is recorded, then replayed
    backwards. ``L`` is the batch's loss Σ_b CE_b / N (with ``label_smoothing`` ε, against
    the targets (1 − ε)·onehot + ε/C); the tape differentiates ``optimizer.scale_loss(L)``
    (L itself, or S·L under float16 loss scaling)."""
    with tf.GradientTape() as tape:
        logits = precision.cast_logits(model(images, training=True))  # float32 for the loss
        with tf.name_scope("loss"):
            loss = losses.scaled_sparse_categorical_crossentropy(labels, logits, global_batch,
                                                                 label_smoothing)
        scaled = optimizer.scale_loss(loss)
    variables = model.trainable_variables  # after the call: it built them if it had to
    return loss, logits, tape.gradient(scaled, variables)


def manual_gradients(model, optimizer, images, labels, global_batch, label_smoothing=0.0):
    """(loss, logits, ∂(S·L)/∂θ) by the hand-written backward pass (``mnist_tf.backprop``):
    the same numbers as :func:`tape_gradients`, with no automatic differentiation."""
    scale = optimizer.scale_loss(tf.constant(1.0))  # S: 1 unless float16 loss scaling
    return backprop.loss_logits_and_gradients(model, images, labels, training=True,
                                              global_batch_size=global_batch,
                                              label_smoothing=label_smoothing, loss_scale=scale)


GRADIENTS = {"tape": tape_gradients, "manual": manual_gradients}


def _make_step_body(model, optimizer, strategy, jit_compile, step_metrics, gradients_fn):
    """One training step on a (distributed) batch, as a Python function to trace."""

    def replica_step(images, labels):
        batch = _global_batch_size(labels, images.dtype)
        loss, logits, gradients = gradients_fn(model, optimizer, images, labels, batch)
        scale = optimizer.scale_loss(tf.constant(1.0))  # this step's S, before apply updates it
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss, metrics.correct_count(labels, logits), batch, (gradients, scale)

    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)

    def step(images, labels):
        loss, correct, batch, scaled = strategy.run(replica_step, args=(images, labels))
        # `batch` is already the global count (all-reduced), the same on every replica.
        count = tf.cast(strategy.experimental_local_results(batch)[0], tf.float32)
        out = {"loss": strategy.reduce("sum", loss, axis=None),
               "correct": tf.cast(strategy.reduce("sum", correct, axis=None), tf.float32),
               "count": count}
        if step_metrics is not None:
            step_metrics.add(out["loss"], out["correct"], count)
        return out, scaled

    # Traced as plain Python, not converted by AutoGraph: the step has no tensor-dependent
    # Python control flow, and converting the model's code was most of the first call's cost.
    return tf.autograph.experimental.do_not_convert(step)


def make_train_step(model, optimizer, strategy=None, jit_compile=False, input_signature=None,
                    step_metrics=None, return_gradients=False, gradients_fn=tape_gradients):
    """Returns ``train_step(images, labels) -> {"loss", "correct", "count"}`` as a tf.function.

    Args:
      model: called as ``model(images, training=True)`` → logits [B, 10]. Its
        variables are read after that call, so an unbuilt model is built by the
        first step (on one device; under a strategy, build it in the strategy's scope).
      optimizer: has ``scale_loss(loss)`` and ``apply_gradients(zip(grads, variables))``.
      strategy: a ``tf.distribute.Strategy``; None for the default (one device).
      jit_compile: compile the per-replica step with XLA.
      input_signature: the step's signature; defaults to (images [None,28,28,1]
        float32, labels [None] int32). Pass a distributed dataset's
        ``element_spec`` under a strategy, or float64 images for a float64 model.
      step_metrics: a :class:`~mnist_tf.training.step_metrics.StepMetrics` the
        step adds its loss and counts to, on the device.
      return_gradients: also return ``gradients``: ∂L/∂θ summed over replicas, for
        TensorBoard's histograms (what the optimizer applies: under float16 loss
        scaling it receives ∂(S·L)/∂θ and divides by S itself; so does this).
      gradients_fn: ``(model, optimizer, images, labels, global_batch) -> (loss,
        float32 logits, gradients)``: :func:`tape_gradients`, or the hand-written
        backward pass (``mnist_tf.backprop``).

    Returns:
      A function whose result holds ``loss`` (the batch mean, a scalar in the images' dtype),
      ``correct`` (the number of correct predictions) and ``count`` (the number
      of examples), both float32 scalars summed over every replica of every
      worker, so that ``correct / count`` is the global batch's accuracy.

    Raises:
      ValueError: under a real strategy, the model has no variables yet.
    """
    strategy = _checked_strategy(model, strategy)
    body = _make_step_body(model, optimizer, strategy, jit_compile, step_metrics, gradients_fn)

    @tf.function(input_signature=input_signature or (IMAGES_SPEC, LABELS_SPEC))
    def train_step(images, labels):
        out, (gradients, scale) = body(images, labels)
        if return_gradients:  # ∂(S·L)/∂θ summed over replicas, then / S: ∂L/∂θ
            scale = strategy.experimental_local_results(scale)[0]  # the same on every replica
            out["gradients"] = [strategy.reduce("sum", g, axis=None) / tf.cast(scale, g.dtype)
                                for g in gradients]
        return out

    return train_step


def make_train_loop(model, optimizer, strategy=None, jit_compile=False, step_metrics=None,
                    gradients_fn=tape_gradients):
    """Returns ``train_steps(iterator, n)``: n training steps in one call (Keras's
    ``steps_per_execution``), a ``tf.while_loop`` over the (distributed) iterator.

    Each step is exactly :func:`make_train_step`'s and adds to ``step_metrics``,
    so the figures read back afterwards are those of n separate calls. ``n`` is
    a tensor: a shorter last group of an epoch does not retrace. Arguments as
    :func:`make_train_step`.
    """
    strategy = _checked_strategy(model, strategy)
    body = _make_step_body(model, optimizer, strategy, jit_compile, step_metrics, gradients_fn)

    @tf.function
    def train_steps(iterator, n):
        for _ in tf.range(n):
            body(*next(iterator))

    return train_steps


def _checked_strategy(model, strategy):
    """The strategy (the default one for None); a real one needs the model built in its scope."""
    strategy = strategy or tf.distribute.get_strategy()
    if strategy is not tf.distribute.get_strategy() and not model.trainable_variables:
        raise ValueError("build the model in the strategy's scope before making its training "
                         "step (models.build(model) under strategy.scope())")
    return strategy


def make_eval_step(model):
    """Returns ``eval_step(images, labels) -> {"loss_sum", "correct", "predictions"}``.

    Dropout is off (``training=False``). The loss is summed, not averaged, so
    that a caller can add batches of different sizes and divide once.
    Evaluation runs on one device even under a strategy: reading mirrored
    variables from the cross-replica context is allowed and evaluation is cheap.
    """

    @tf.function(input_signature=(IMAGES_SPEC, LABELS_SPEC))
    def eval_step(images, labels):
        logits = precision.cast_logits(model(images, training=False))
        per_example = losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        return {"loss_sum": tf.reduce_sum(per_example),
                "correct": tf.cast(metrics.correct_count(labels, logits), tf.float32),
                "predictions": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    return eval_step
