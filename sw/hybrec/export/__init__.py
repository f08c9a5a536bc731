"""Export: a trained quantized hybrid -> QONNX MLP + integer kernel parameters + the integer golden model."""
