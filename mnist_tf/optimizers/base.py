"""What SGD and Adam share: the step counter, the learning rate (or schedule), slot bookkeeping,
and ``apply_gradients`` — including the cross-replica sum under ``tf.distribute``.

One call of ``apply_gradients(zip(g, θ))`` does, as Keras 3's optimizers do::

    (under a strategy with R > 1 replicas, in replica context:  g ← Σ_replicas g)
    η = learning_rate(iterations)        # a float, or a schedule of the step 0, 1, 2, ...
    θ ← θ + Δθ(g, η, t = iterations + 1, slots)   # the subclass's pure update rule
    iterations ← iterations + 1

Under ``tf.distribute.MirroredStrategy`` the training step computes each
replica's gradients from its share of the loss Σ L_b / N (N = the global batch
size), so their sum is the gradient of the global batch mean. After the
all-reduce every replica holds the same g and applies the same update to its own
copy of each mirrored variable (``assign`` in replica context on a variable with
the default aggregation NONE updates the local copy), so the copies stay equal.

Slots (Adam's m and v, SGD's momentum) are created by ``build(var_list)``,
explicitly — under the strategy's scope, before any ``tf.function`` — or on the
first ``apply_gradients``. They are lists of tf.Variables, tracked by
tf.Module, so ``tf.train.Checkpoint`` saves and restores them with
``iterations``. A variable ``build`` has not seen gets its slots on first use
(eagerly, via ``tf.init_scope``): fine in eager mode or a function's first
trace, but under a strategy build first, in its scope.
"""

import tensorflow as tf


class Optimizer(tf.Module):
    """Base class: subclasses name their slots and define ``_update(g, var, slots, lr, t) -> (Δθ, slots)``."""

    def __init__(self, learning_rate, name, slot_names=()):
        super().__init__(name=name)
        self.learning_rate = learning_rate
        self._slot_names = tuple(slot_names)
        with self.name_scope:
            self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self._variable_refs = []
        self.slots = {slot: [] for slot in self._slot_names}

    def current_learning_rate(self, dtype=tf.float32) -> tf.Tensor:
        """η at the current step (``iterations``) in ``dtype``; calls the schedule if there is one.

        A Python float goes straight to ``dtype`` (1e-3 is not 1e-3 once rounded
        to float32, and float64 training would see the difference).
        """
        lr = self.learning_rate
        if callable(lr):
            lr = lr(self.iterations)
        if isinstance(lr, (int, float)):
            return tf.constant(lr, dtype)
        return tf.cast(lr, dtype)

    def build(self, var_list):
        """Creates a zero slot of each kind per variable; calling it again adds only new variables."""
        with tf.init_scope(), self.name_scope:
            for var in var_list:
                if var.ref() in self._variable_refs:
                    continue
                self._variable_refs.append(var.ref())
                base = var.name.split(":")[0].replace("/", "_")
                for slot in self._slot_names:
                    self.slots[slot].append(tf.Variable(tf.zeros(var.shape, var.dtype),
                                                        trainable=False, name=f"{base}_{slot}"))

    def scale_loss(self, loss):
        """The loss to differentiate: ``loss`` itself (a ``LossScaleOptimizer`` multiplies it).

        So a training step can always compute ``scaled = optimizer.scale_loss(loss)``
        inside its tape and differentiate ``scaled``, as Keras 3's optimizers allow.
        """
        return loss

    def apply_gradients(self, grads_and_vars, skip_gradients_aggregation=False):
        """θ ← θ + Δθ for each (gradient, variable) pair; ``None`` gradients are skipped.

        Returns the gradients applied (summed across replicas, in each variable's
        dtype): the training step hands them to TensorBoard's histograms.

        Its ops sit in a name scope of the optimizer's name (``adam/``), so the
        training step's graph in TensorBoard shows the update as one box.

        Args:
          grads_and_vars: (gradient, variable) pairs.
          skip_gradients_aggregation: the gradients are already summed across
            replicas (Keras 2's argument): a ``LossScaleOptimizer`` sums them
            once, before its finiteness test, and must not have them summed twice.
        """
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            return []
        grads, variables = zip(*pairs)
        self.build(variables)
        with tf.name_scope(self.name):
            if not skip_gradients_aggregation:
                grads = sum_across_replicas(list(grads))
            grads = [tf.cast(g, var.dtype) for g, var in zip(grads, variables)]
            self._apply(grads, variables)
        return grads

    def _apply(self, grads, variables):
        """The update of `apply_gradients` (gradients summed, in the variables' dtypes)."""
        t = self.iterations + 1
        for g, var in zip(grads, variables):
            i = self._variable_refs.index(var.ref())
            slots = [self.slots[name][i] for name in self._slot_names]
            delta, new_slots = self._update(g, var, slots,
                                            self.current_learning_rate(var.dtype),
                                            tf.cast(t, var.dtype))
            for slot, value in zip(slots, new_slots):
                slot.assign(value)
            var.assign_add(delta)
        self.iterations.assign_add(1)

    def _update(self, g, var, slots, lr, t):
        raise NotImplementedError


def sum_across_replicas(grads):
    """Σ over replicas when called in the replica context of a strategy with more than one."""
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return grads
    context = tf.distribute.get_replica_context()
    if context.num_replicas_in_sync == 1:
        return grads
    return context.all_reduce("sum", grads)
