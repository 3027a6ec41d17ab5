"""The recognizer in Keras: the ResNet + BiLSTM graph (`network`), the TensorFlow kernels it and
the optimizer run on (`kernels`), losses, decoding of its outputs, the confidence map, saving and
loading, and `captcha summary`'s description of it."""
