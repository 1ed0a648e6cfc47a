"""Deployment: the trained model as LiteRT (float32 and full-integer int8) and ONNX files.

Every format comes from the SavedModel of ``mnist_tf/export.py`` (uint8 pixels in,
probabilities out) and is checked in its own runtime before it is kept:

    litert.py        LiteRT flatbuffers: float32, and int8 post-training quantization
                     calibrated on training images; run by ``ai_edge_litert``'s Interpreter
    onnx.py          ONNX through tf2onnx; run by ONNX Runtime
    quantization.py  the int8 arithmetic (scale, zero point, per-channel weight scales, the
                     integer matmul and its requantization) as a NumPy reference
    predictor.py     ``load_predictor(path)``: one callable uint8 [N, 28, 28] → float32 [N, 10]
                     for a SavedModel, a checkpoint, a ``.tflite`` or an ``.onnx`` file
    verify.py        accuracy and agreement with the SavedModel; refuses beyond a bound
    files.py         atomic writes and bounded reads of model files
    formats.py       ``write(format, saved_model_dir, path, ...)``: convert, verify, keep

The runtimes (``ai-edge-litert``, ``tf2onnx``, ``onnx``, ``onnxruntime``) are the
``[deploy]`` extra and are imported only when a format needs them.
"""
