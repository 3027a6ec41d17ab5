"""Images and labels, without TensorFlow: finding and auditing labelled folders, the one
preprocessing module, the uint8 caches, the captcha generator, and the input size chosen from the
data. `captcha preprocess` and `captcha generate` are workflows here."""
