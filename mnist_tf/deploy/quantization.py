"""Full-integer int8 arithmetic, as LiteRT runs it, in NumPy: the reference for one layer.

**Affine quantization.** A real tensor r is stored as 8-bit integers q with a scale
s > 0 and a zero point z (the integer that stands for 0.0)::

    r ≈ s · (q - z)          q = clamp(round(r / s) + z, -128, 127)        (int8)

Activations get one (s, z) per tensor, chosen by the converter from the range
[min, max] the calibration images produce: s = (max - min) / 255 and z such that
0.0 is exact (after a ReLU, min = 0, so z = -128). Weights are **symmetric and per
output channel**: z_w = 0 and, for channel c, s_w[c] = max_k |w[c, k]| / 127, so a
channel of small weights keeps its resolution. Biases are int32 with scale
s_x·s_w[c] and zero point 0, so they add straight into the accumulator.

**The integer matmul** (FULLY_CONNECTED; CONV_2D is the same sum over a 3x3xC
window). For y = x·Wᵀ + b with x [N, K], W [C, K]::

    y[n, c] = Σ_k x[n, k] w[c, k] + b[c]
            ≈ s_x s_w[c] · ( Σ_k (q_x[n, k] - z_x) q_w[c, k] + q_b[c] )
            = s_x s_w[c] · acc[n, c]                          acc: int32, exact

**Requantization** to the output's (s_y, z_y)::

    q_y[n, c] = clamp(z_y + round(M[c] · acc[n, c]), -128, 127),   M[c] = s_x s_w[c] / s_y

with no float at run time: M = M0 · 2^shift, M0 an int32 in [2^30, 2^31) read as
a fixed-point fraction in [0.5, 1) (``quantize_multiplier``), and
M · acc = round_shift(high_mul(acc · 2^max(shift, 0), M0), max(-shift, 0)):
``high_mul(a, b) = round(a·b / 2^31)`` (ties away from zero) and ``round_shift(x, e)
= round(x / 2^e)`` (ties away from zero), as gemmlowp/LiteRT compute them
(``multiply_by_quantized_multiplier``). A fused ReLU is the clamp's lower bound
moved to z_y.

``fully_connected`` computes what gemmlowp's reference computes. LiteRT's builtin
kernels give the same integers but where M·acc lands within about 1e-4 of a half,
one step apart there (tests/test_deploy_quantization.py, against the interpreter on
the flatbuffer's own tensors and scales: 0 and 2 of 2,000 outputs on two trained
models; their exact rounding on x86 is not gemmlowp's double rounding, nor one
rounding of the full product). XNNPACK, LiteRT's default CPU delegate, requantizes
in float32 (round(float(acc)·M) to nearest even), which can differ by one step
where a product lands near a half.

Shapes: q_x int8 [N, K], q_w int8 [C, K], q_b int32 [C], s_w float32 [C] → q_y int8 [N, C].
"""

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def quantize(r, scale, zero_point) -> np.ndarray:
    """q = clamp(round(r / s) + z, -128, 127) as int8 (round half to even, as NumPy)."""
    q = np.round(np.asarray(r, np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(q, scale, zero_point) -> np.ndarray:
    """r = s · (q - z), float32; ``scale`` [C] with ``axis`` last for per-channel tensors."""
    return (np.asarray(q, np.float32) - zero_point) * np.asarray(scale, np.float32)


def quantize_multiplier(m: float):
    """(M0, shift) with m = M0 · 2^(shift - 31), M0 int32 in [2^30, 2^31) (0 for m = 0)."""
    if m == 0:
        return 0, 0
    fraction, shift = np.frexp(np.float64(m))  # m = fraction · 2^shift, fraction in [0.5, 1)
    m0 = int(np.round(fraction * (1 << 31)))
    if m0 == 1 << 31:  # the fraction rounded up to 1.0
        m0, shift = m0 // 2, shift + 1
    if shift < -31:
        return 0, 0
    return m0, int(shift)


def _high_mul(a: np.ndarray, b: int) -> np.ndarray:
    """round(a·b / 2^31), ties away from zero, in int64 (a, b int32; saturation is moot here)."""
    ab = a.astype(np.int64) * np.int64(b)
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    total = ab + nudge
    return np.sign(total) * (np.abs(total) >> 31)  # C's division: truncation toward zero


def _round_shift(x: np.ndarray, exponent: int) -> np.ndarray:
    """round(x / 2^exponent), ties away from zero (gemmlowp's RoundingDivideByPOT)."""
    mask = np.int64((1 << exponent) - 1)
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(acc, m0: int, shift: int) -> np.ndarray:
    """acc · M0 · 2^(shift - 31), rounded, in integers only (int64 result of int32 inputs)."""
    acc = np.asarray(acc, np.int64) * np.int64(1 << max(shift, 0))
    return _round_shift(_high_mul(acc, m0), max(-shift, 0))


def fully_connected(q_x, x_scale, x_zero_point, q_w, w_scales, q_b, y_scale, y_zero_point,
                    activation_min: int = INT8_MIN) -> np.ndarray:
    """The int8 FULLY_CONNECTED layer of the module docstring: q_y int8 [N, C].

    Args:
      q_x: int8 [N, K] input, with its scale and zero point.
      q_w: int8 [C, K] weights (zero point 0), ``w_scales`` float32 [C] (one per channel).
      q_b: int32 [C] bias (scale x_scale·w_scales[c], zero point 0), or None.
      y_scale, y_zero_point: the output's quantization.
      activation_min: the clamp's lower bound (y_zero_point for a fused ReLU).
    """
    acc = (np.asarray(q_x, np.int64) - x_zero_point) @ np.asarray(q_w, np.int64).T
    if q_b is not None:
        acc = acc + np.asarray(q_b, np.int64)
    out = np.empty_like(acc)
    for c, w_scale in enumerate(np.asarray(w_scales, np.float32)):
        # LiteRT forms M in double from the float32 scales.
        m = np.float64(x_scale) * np.float64(w_scale) / np.float64(np.float32(y_scale))
        out[:, c] = multiply_by_quantized_multiplier(acc[:, c], *quantize_multiplier(m))
    return np.clip(out + y_zero_point, activation_min, INT8_MAX).astype(np.int8)
