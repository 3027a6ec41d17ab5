"""Process-level settings that must be made before TensorFlow is imported."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from contextlib import contextmanager

_settings = {"debug": False}


def set_debug(debug: bool) -> None:
    """Remember whether TensorFlow's own logging should be shown (`--debug`)."""
    _settings["debug"] = debug
    if not debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=r"(tensorflow|keras|absl)(\..*)?")


def is_debug() -> bool:
    return _settings["debug"]


@contextmanager
def native_logs_hidden():
    """Point file descriptor 2 at a temporary file while native code prints start-up notices;
    what it caught is shown only if the block fails, or always with --debug."""
    if is_debug():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow() -> None:
    """Import TensorFlow and Keras, hiding their start-up noise unless debugging.

    TensorFlow's C++ side writes oneDNN and CUDA-probing notices to file descriptor 2 before
    its logging is configured, so no environment variable silences them; the descriptor is
    pointed at a temporary file during the import and what it caught is shown only on failure.
    """
    with native_logs_hidden():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
