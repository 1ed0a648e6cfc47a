"""See the math: one digit's forward and backward pass, layer by layer, and attributions.

No Keras; plain arguments. One file per piece:

  passes.py        forward kept (y_l per layer) and backward kept, δ_l = ∂z_c/∂y_l, from the
                   hand-written backward of ``mnist_tf.backprop`` started at e_c
  attributions.py  saliency ∂z_c/∂x, gradient × input, SmoothGrad, integrated gradients,
                   Grad-CAM on the last conv layer (each formula in its docstring)
  explanation.py   all of it for a batch in one call: ``explain``, ``Explainer`` (compiled)
  render.py        the pictures: colour maps, tiled feature maps, a titled PNG sheet
  summaries.py     ``explain/*`` images in TensorBoard at every epoch end

Proven in ``tests/test_explain.py``: δ at every layer, ∂z_c/∂x and Grad-CAM equal
``tf.GradientTape``'s in float64; integrated gradients' completeness error shrinks with m;
SmoothGrad with σ = 0 is the saliency.
"""

from mnist_tf.explain.explanation import Explainer, Explanation, explain
from mnist_tf.explain.passes import Pass, forward_backward

__all__ = ["Explainer", "Explanation", "Pass", "explain", "forward_backward"]
