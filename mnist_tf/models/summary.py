"""Parameter counts and a Keras-like ``model.summary()`` table for a Sequential model."""

import math

import tensorflow as tf


def count_params(model) -> int:
    """The number of trainable scalars (kernels and biases); Dropout's generator state is not one."""
    unbuilt = [m for m in (model, *model.submodules) if getattr(m, "_built", True) is False]
    if unbuilt:
        raise ValueError("the model has no variables yet: they are built from the first input, "
                         "so call models.build(model) (or the model) first")
    return sum(math.prod(v.shape.as_list()) for v in model.trainable_variables)


def count_non_trainable(module) -> int:
    """Floating-point state that is not trained (BatchNormalization's moving statistics);
    Dropout's integer generator state is not a parameter."""
    return sum(math.prod(v.shape.as_list()) for v in module.variables
               if not v.trainable and v.dtype.is_floating)


def summary(model, input_shape=(28, 28, 1)) -> str:
    """A table of layer name (type), output shape and parameters, with totals.

    Runs one zero example of ``input_shape`` (no batch axis) through the layers,
    which builds them if they were not built yet.
    """
    rows = [("Layer (type)", "Output Shape", "Param #")]
    x = tf.zeros((1, *input_shape))
    for layer in model.layers:
        x = layer(x, training=False)
        rows.append((f"{layer.name} ({type(layer).__name__})", str((None, *x.shape[1:])),
                     f"{count_params(layer) + count_non_trainable(layer):,}"))
    trainable, frozen = count_params(model), count_non_trainable(model)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]

    def line(row):
        return f"{row[0]:<{widths[0]}}   {row[1]:<{widths[1]}}   {row[2]:>{widths[2]}}"

    rule = "-" * len(line(rows[0]))
    return "\n".join([
        f'Model: "{model.name}"', rule, line(rows[0]), rule.replace("-", "="),
        *map(line, rows[1:]), rule,
        f"Total params: {trainable + frozen:,}", f"Trainable params: {trainable:,}",
        f"Non-trainable params: {frozen:,}",
        "Outputs logits: softmax is applied in the loss (from_logits=True) and in "
        "predict_probabilities.",
    ])
