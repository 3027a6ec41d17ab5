"""captcha-cli: train, check and run captcha text recognizers."""

__version__ = "0.3.0"
