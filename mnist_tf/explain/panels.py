"""What each picture is: its title, its formula and the source files that compute it.

One table, read by the PNG sheet (``render``), TensorBoard (``summaries``) and
the browser page (``bin/serve.py``), so the three never disagree. Source paths
are relative to the repository root.
"""

from mnist_tf import layers

EXPLAIN = "mnist_tf/explain/attributions.py"
PASSES = "mnist_tf/explain/passes.py"

# Layer type → (forward formula, forward file, backward file).
LAYERS = {
    layers.Conv2D: ("y = relu(x ⊛ W + b)", "mnist_tf/layers/conv.py", "mnist_tf/backprop/conv.py"),
    layers.MaxPool2D: ("y = max over each 2×2 window", "mnist_tf/layers/pooling.py",
                       "mnist_tf/backprop/pooling.py"),
    layers.Flatten: ("y = x reshaped to [1600]", "mnist_tf/layers/reshaping.py",
                     "mnist_tf/backprop/reshaping.py"),
    layers.Dropout: ("y = x (inference)", "mnist_tf/layers/dropout.py",
                     "mnist_tf/backprop/dropout.py"),
    layers.Dense: ("z = x W + b (logits)", "mnist_tf/layers/dense.py", "mnist_tf/backprop/dense.py"),
    layers.BatchNormalization: ("y = γ (x − μ)/√(σ² + ε) + β", "mnist_tf/layers/normalization.py",
                                "mnist_tf/backprop/normalization.py"),
    layers.Activation: ("y = act(x)", "mnist_tf/layers/activations.py",
                        "mnist_tf/backprop/activations.py"),
}
DELTA = "δ = ∂z_c/∂y"

# Attribution key → (title, formula, file).
ATTRIBUTIONS = {
    "saliency": ("saliency", "∂z_c/∂x", EXPLAIN),
    "gradient_times_input": ("gradient × input", "x ⊙ ∂z_c/∂x", EXPLAIN),
    "smoothgrad": ("SmoothGrad", "(1/n) Σ_k ∂z_c/∂x(x + ε_k)", EXPLAIN),
    "integrated_gradients": ("integrated gradients", "x ⊙ (1/m) Σ_k ∂z_c/∂x((k − ½) x/m)", EXPLAIN),
    "grad_cam_28": ("Grad-CAM", "relu(Σ_k α_k A_k), α_k = mean ∂z_c/∂A_k", EXPLAIN),
}
INPUT = ("input x", "28×28 as predict.py prepares it, x/255", "mnist_tf/preprocess.py")
PROBABILITIES = ("probabilities", "softmax(z)", "mnist_tf/layers/activations.py")


def layer_panel(layer):
    """``(formula, forward file, backward file)`` of a layer; a layer type not in
    :data:`LAYERS` gets a generic line and the package's files."""
    for cls, entry in LAYERS.items():
        if type(layer) is cls:
            return entry
    return ("y = f(x)", "mnist_tf/layers/", "mnist_tf/backprop/")


def sources() -> list:
    """Every source file the panels name (what ``bin/serve.py`` may show)."""
    files = {PASSES, EXPLAIN, INPUT[2], PROBABILITIES[2]}
    for _, forward, backward in LAYERS.values():
        files |= {forward, backward}
    return sorted(files)
