"""The exception tree: each error carries a one-line message and a hint."""

from __future__ import annotations


class CaptchaError(Exception):
    """Base of every error the CLI reports as `Error: ...` with exit code 1."""

    def __init__(self, message: str, hint: str = "", rows: list[dict] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.rows = rows or []


class SpecError(CaptchaError):
    """An invalid model spec or training configuration."""


class CharsetError(CaptchaError):
    """An invalid charset or a text that cannot be encoded with it."""


class ImageError(CaptchaError):
    """An image file that cannot be read or decoded."""


class ImageTooLargeError(ImageError):
    """An image over a size or pixel limit (the service answers 413)."""


class DatasetError(CaptchaError):
    """A dataset folder that cannot be used as it is."""


class ModelFileError(CaptchaError):
    """A saved model (or its spec) that is missing or unreadable."""


class TrainingError(CaptchaError):
    """A training run that cannot start or resume."""
