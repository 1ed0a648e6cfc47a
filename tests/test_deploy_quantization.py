"""quantization.py against LiteRT: one int8 layer recomputed in NumPy from the flatbuffer's own
tensors and scales (the same integers but at near-ties), and the fixed-point requantization
against exact arithmetic."""

import fractions

import numpy as np
import pytest

from mnist_tf.deploy import litert, quantization

pytestmark = pytest.mark.slow


def run_keeping_tensors(content, images, without_xnnpack):
    """The interpreter after running ``images``, every intermediate tensor kept readable."""
    model = litert.interpreter(content, without_xnnpack=without_xnnpack,
                               experimental_preserve_all_tensors=True)
    runner = model.get_signature_runner("serving_default")
    runner(images=images)
    return model


def dense_layer(model):
    """The FULLY_CONNECTED op's (input, weights, bias, output) tensor details."""
    op, = [op for op in model._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    details = {t["index"]: t for t in model.get_tensor_details()}
    return [details[i] for i in (*op["inputs"], *op["outputs"])]


def quantization_of(detail):
    q = detail["quantization_parameters"]
    return q["scales"], q["zero_points"]


@pytest.fixture(scope="module")
def int8_model(deployed):
    with open(deployed["litert_int8"].path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("without_xnnpack", [True, False])
def test_dense_layer_recomputed_from_the_flatbuffer(int8_model, mnist, without_xnnpack):
    model = run_keeping_tensors(int8_model, mnist.x_test[:200], without_xnnpack)
    x, w, b, y = dense_layer(model)
    (x_scale,), (x_zero,) = quantization_of(x)
    w_scales, w_zeros = quantization_of(w)
    b_scales, _ = quantization_of(b)
    (y_scale,), (y_zero,) = quantization_of(y)
    assert not w_zeros.any() and len(w_scales) == 10
    np.testing.assert_allclose(b_scales, x_scale * w_scales, rtol=1e-6)  # s_b = s_x s_w[c]
    q_x, q_w, q_b, q_y = (model.get_tensor(t["index"]) for t in (x, w, b, y))
    assert q_x.dtype == q_w.dtype == q_y.dtype == np.int8 and q_b.dtype == np.int32
    ours = quantization.fully_connected(q_x, x_scale, int(x_zero), q_w, w_scales, q_b,
                                        y_scale, int(y_zero))
    assert ours.shape == q_y.shape == (200, 10)
    difference = np.abs(ours.astype(int) - q_y.astype(int))
    if without_xnnpack:  # LiteRT's own integer kernels: the same integers but where M·acc
        # lands within 2e-4 of a half (measured: 0 and 2 of 2,000 on two trained models, at
        # 0.9e-4 and 1.1e-4 from the half)
        acc = ((q_x.astype(np.int64) - int(x_zero)) @ q_w.astype(np.int64).T
               + q_b.astype(np.int64))
        m = np.float64(x_scale) * w_scales.astype(np.float64) / np.float64(y_scale)
        product = acc * m
        near_half = np.abs(np.abs(product - np.floor(product)) - 0.5) < 2e-4
        assert difference.max() <= 1 and np.mean(difference) <= 0.002
        assert near_half[difference > 0].all(), product[difference > 0]
    else:  # XNNPACK requantizes in float32: at most one step apart, and rarely
        assert difference.max() <= 1 and np.mean(difference) < 0.01
    # and the integers mean what the real layer computes: y = x Wᵀ + b on the dequantized
    # tensors, to half a step, wherever the output is not clamped (a logit beyond the range
    # the calibration images produced saturates at -128 or 127). Half a step and a little:
    # the rounding inside high_mul moves the product by up to 2^-(e+1) of a step before the
    # final round (e: the right shift, 12 for these scales), so a product 1e-4 short of a
    # half can end 0.5001 steps away.
    real = (quantization.dequantize(q_x, x_scale, x_zero)
            @ quantization.dequantize(q_w, w_scales[:, None], 0).T
            + quantization.dequantize(q_b, b_scales, 0))
    inside = (ours > -128) & (ours < 127)
    assert inside.mean() > 0.9
    error = np.abs(quantization.dequantize(ours, y_scale, y_zero) - real)[inside]
    assert error.max() <= 0.5 * y_scale * (1 + 1e-3)


def test_quantize_multiplier_represents_m():
    for m in (1e-6, 0.0033, 0.4999999, 0.5, 0.75, 0.9999999999, 1.0, 3.7):
        m0, shift = quantization.quantize_multiplier(m)
        assert (1 << 30) <= m0 < (1 << 31)
        assert m0 * 2.0 ** (shift - 31) == pytest.approx(m, rel=2 ** -31)
    assert quantization.quantize_multiplier(0.0) == (0, 0)


def round_half_away(value: fractions.Fraction) -> int:
    return int(abs(value) + fractions.Fraction(1, 2)) * (1 if value >= 0 else -1)


def test_integer_requantization_is_exact_rounding():
    rng = np.random.default_rng(0)
    acc = rng.integers(-2 ** 20, 2 ** 20, size=2000)
    for m in (0.0012345, 0.25, 0.61):
        m0, shift = quantization.quantize_multiplier(m)
        got = quantization.multiply_by_quantized_multiplier(acc, m0, shift)
        # the exact product acc·M0·2^(shift-31) rounded half away from zero; gemmlowp rounds
        # twice (to 2^-31 in high_mul, then the shift), one off only where the first rounding
        # lands exactly on a half of the second
        expected = np.array([round_half_away(fractions.Fraction(int(a) * m0, 2 ** (31 - shift)))
                             for a in acc])
        e = max(-shift, 0)
        high = np.array([round_half_away(fractions.Fraction(int(a) * m0, 2 ** 31)) for a in acc])
        on_half = (high % (1 << e) == (1 << e) // 2) if e else np.zeros(len(acc), bool)
        np.testing.assert_array_equal(got[~on_half], expected[~on_half])
        assert np.max(np.abs(got - expected)[on_half], initial=0) <= 1
