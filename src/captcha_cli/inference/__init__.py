"""Using a trained model: readers for `.keras`, TFLite and ONNX, `evaluate` (scores, suspects),
`calibrate`, `export` and the HTTP service."""
