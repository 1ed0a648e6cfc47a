"""Mixed precision: Keras's dtype policies, written by hand, and whether this CPU gains from them.

A policy names two dtypes (Keras's ``keras.mixed_precision.DTypePolicy``)::

    name              variable_dtype   compute_dtype
    "float32"         float32          float32
    "float64"         float64          float64
    "mixed_bfloat16"  float32          bfloat16
    "mixed_float16"   float32          float16

The two 16-bit formats spend their bits differently (sign, exponent, mantissa)::

    float32   1 + 8 + 23   max ≈ 3.4e38   smallest normal 2⁻¹²⁶   ulp(1) = 2⁻²³
    bfloat16  1 + 8 + 7    max ≈ 3.4e38   smallest normal 2⁻¹²⁶   ulp(1) = 2⁻⁷
    float16   1 + 5 + 10   max = 65504    smallest normal 2⁻¹⁴    ulp(1) = 2⁻¹⁰

bfloat16 is float32 with the mantissa cut to 7 bits: the same range, so
nothing overflows or underflows that would not in float32, only a relative
rounding error of up to 2⁻⁸ per op. float16 keeps 3 more mantissa bits but its
5-bit exponent spans only ~6e-8 (subnormal) to 65504: small gradients flush to
0, which is what dynamic loss scaling (``optimizers.LossScaleOptimizer``)
prevents by computing the gradient of S·L instead of L.

Where the casts are (see ``mnist_tf.layers.base``): each layer casts its input
and reads its float32 variables cast to the compute dtype; the variables, the
loss and the update stay float32. The logits are cast to float32 before the
softmax cross-entropy (``cast_logits``): log Σ exp(z) in bfloat16 would lose the
small probabilities' information to a 2⁻⁸ rounding of the sum, and float16's
exp overflows past z ≈ 11. The training step for a mixed policy therefore is::

    with tf.GradientTape() as tape:
        logits = cast_logits(model(images, training=True))  # float32 [B, 10]
        loss   = Σ_b CE(y_b, logits_b) / N                   # float32
        scaled = optimizer.scale_loss(loss)                  # S·loss (float16), else loss
    grads = tape.gradient(scaled, θ)                         # float32, like θ
    optimizer.apply_gradients(zip(grads, θ))                 # unscales, may skip (float16)

``scale_loss`` must run inside the tape: outside it the tape never saw the
product and every gradient is None.

Speed: a CPU gains from bfloat16 only with native bfloat16 dot products
(AVX512-BF16's ``vdpbf16ps`` or AMX tiles); elsewhere oneDNN converts to
float32 and back around every op, which costs more than the halved memory
traffic saves. ``native_bfloat16_note`` says which case this machine is.
float16 is a GPU format: oneDNN runs it only with AVX512-FP16, so elsewhere
TensorFlow falls back to Eigen's float16 kernels (measured ~7x slower than
float32 on an AVX512-BF16 EPYC without AVX512-FP16). With AVX512-FP16 and
oneDNN on, oneDNN's float16 convolution gradients are slower still: an epoch
of 15 steps of batch 32 13x float32's, and images/s at batch 128 26x fewer, on
a 2-core Xeon with AMX, where TensorFlow's own kernels (``--onednn=off``) run
that epoch in ~1.3x float32's time.
"""

import dataclasses

import tensorflow as tf

from mnist_tf.layers.base import Layer

# name → (compute dtype, variable dtype)
POLICIES = {
    "float32": (tf.float32, tf.float32),
    "float64": (tf.float64, tf.float64),
    "mixed_bfloat16": (tf.bfloat16, tf.float32),
    "mixed_float16": (tf.float16, tf.float32),
}

# The /proc/cpuinfo flags that mean bfloat16 dot products in hardware.
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclasses.dataclass(frozen=True)
class Policy:
    """A dtype policy by name: ``Policy("mixed_bfloat16").compute_dtype`` is ``tf.bfloat16``.

    Args:
      name: one of ``POLICIES`` (Keras's names).
    """

    name: str

    def __post_init__(self):
        if self.name not in POLICIES:
            raise ValueError(f"unknown precision policy {self.name!r}; known: "
                             f"{', '.join(POLICIES)}")

    @property
    def compute_dtype(self) -> tf.DType:
        """The dtype of the layers' arithmetic and outputs."""
        return POLICIES[self.name][0]

    @property
    def variable_dtype(self) -> tf.DType:
        """The dtype of the weights (the optimizer's master copy)."""
        return POLICIES[self.name][1]

    @property
    def needs_loss_scaling(self) -> bool:
        """True for float16 compute, whose gradients underflow without a loss scale."""
        return self.compute_dtype == tf.float16


def get(policy) -> Policy:
    """A ``Policy`` from a name or a ``Policy``."""
    return policy if isinstance(policy, Policy) else Policy(str(policy))


def set_policy(model, policy):
    """Gives every layer of ``model`` (a Layer or any tf.Module holding them) the policy.

    Call it before the model is built, so that the variables are created in the
    policy's variable dtype; on a built model it is allowed only when the
    existing variables already have that dtype (e.g. float32 → mixed_bfloat16).

    Returns:
      ``model``, for chaining: ``models.build(set_policy(models.get(name), "mixed_bfloat16"))``.
    """
    policy = get(policy)
    layers = [m for m in (model, *model.submodules) if isinstance(m, Layer)]
    for layer in layers:
        wrong = [v.name for v in layer.variables
                 if v.dtype.is_floating and v.dtype != policy.variable_dtype]
        if wrong:
            raise ValueError(f"cannot set policy {policy.name!r} on layer {layer.name!r}: its "
                             f"variables {wrong} are not {policy.variable_dtype.name}; set the "
                             f"policy before building the model")
    for layer in layers:
        layer.dtype_policy = policy
    return model


def cast_logits(logits) -> tf.Tensor:
    """The model's logits in float32, for the softmax cross-entropy, metrics and summaries.

    The loss is a sum over the batch of log Σ exp terms: in bfloat16 each term
    keeps ~3 significant digits and the sum loses more; in float16 exp(z)
    overflows for z > ~11. So the loss (and what is reported) is float32, as
    Keras computes its losses in float32 whatever the layers' policy. float32 and
    float64 logits are returned as they are (a float64 study stays float64).
    """
    logits = tf.convert_to_tensor(logits)
    return tf.cast(logits, tf.float32) if logits.dtype in (tf.float16, tf.bfloat16) else logits


def _read_cpuinfo(cpuinfo):
    if cpuinfo is not None:
        return cpuinfo
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_fields(cpuinfo):
    """(model name, set of flags) of the first processor in a /proc/cpuinfo text."""
    model, flags = "unknown CPU", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def cpu_description(cpuinfo=None) -> str:
    """``"<model name>; bfloat16/AVX-512 flags: ..."`` from /proc/cpuinfo (or the given text)."""
    model, flags = _cpu_fields(_read_cpuinfo(cpuinfo))
    shown = sorted(f for f in flags if f.startswith(("avx512", "amx")) or "bf16" in f)
    return f"{model}; bfloat16/AVX-512 flags: {' '.join(shown) or 'none'}"


def native_bfloat16_note(cpuinfo=None):
    """None when the CPU has native bfloat16 (avx512_bf16 or amx_bf16), else one line saying why not.

    Args:
      cpuinfo: the text of /proc/cpuinfo; None reads the file (absent: the note
        says the hardware is unknown).
    """
    text = _read_cpuinfo(cpuinfo)
    if not text:
        return ("mixed_bfloat16 may be slower than float32 here: no /proc/cpuinfo to tell whether "
                "this CPU has native bfloat16 (avx512_bf16 or amx_bf16)")
    model, flags = _cpu_fields(text)
    if flags.intersection(NATIVE_BFLOAT16_FLAGS):
        return None
    return (f"mixed_bfloat16 will be slower than float32 here: this CPU ({model}) has neither "
            f"avx512_bf16 nor amx_bf16, so every bfloat16 op is converted to float32 and back")


def cpu_note(policy, cpuinfo=None, *, onednn_on):
    """One line on what ``policy`` costs on this CPU, or None when there is nothing to say.

    mixed_bfloat16 without native bfloat16 is slower than float32 (see
    :func:`native_bfloat16_note`). mixed_float16 is a GPU format: TensorFlow's CPU
    kernels (oneDNN) have no float16 path on CPUs without AVX512-FP16, so every op
    falls back to slower generic code; on a CPU with AVX512-FP16 and oneDNN's kernels
    running (``onednn_on``, ``mnist_tf.onednn.enabled()``), oneDNN's float16
    convolution gradients are slower still (module docstring); with AVX512-FP16 and
    TensorFlow's own kernels there is nothing to say.
    """
    name = get(policy).name
    if name == "mixed_bfloat16":
        return native_bfloat16_note(cpuinfo)
    if name != "mixed_float16":
        return None
    text = _read_cpuinfo(cpuinfo)
    if not text:
        return ("mixed_float16 may be several times slower than float32 here: it is a GPU "
                "format, and no /proc/cpuinfo tells whether this CPU has avx512_fp16")
    if "avx512_fp16" in _cpu_fields(text)[1]:
        if onednn_on:
            return ("mixed_float16 with oneDNN's kernels can train 10-30x slower than float32 "
                    "on a CPU like this one (oneDNN's float16 convolution gradients): "
                    "--onednn=off runs it at near float32's speed")
        return None
    return ("mixed_float16 is a GPU format: on this CPU (no avx512_fp16) TensorFlow runs "
            "float16 ops through slow generic kernels, several times slower than float32")
