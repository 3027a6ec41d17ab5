"""The `summary` workflow: describe a model built from a spec or loaded from disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from captcha_cli.charset import compact_charset
from captcha_cli.spec import ModelSpec

BYTES_PER_FLOAT32 = 4


def model_report(spec: ModelSpec | None = None, model_path: Path | None = None) -> dict[str, Any]:
    """Parameter counts, size, shapes, MACs and per-part rows of a model."""
    from captcha_cli.model.modelio import load_model
    from captcha_cli.model.network import build_model, describe_model

    if model_path is not None:
        model, spec, model_path = load_model(model_path)
    else:
        spec = spec or ModelSpec()
        model = build_model(spec)
    trainable = int(sum(w.numpy().size for w in model.trainable_weights))
    non_trainable = int(sum(w.numpy().size for w in model.non_trainable_weights))
    total = trainable + non_trainable
    parts = describe_model(model)
    return {
        "name": model.name,
        "arch": spec.arch,
        "model_path": str(model_path) if model_path else None,
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": non_trainable,
        "size_mb": round(total * BYTES_PER_FLOAT32 / 2**20, 2),
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "macs_per_image": sum(p.macs for p in parts),
        "charset": compact_charset(spec.charset),
        "num_classes": spec.num_classes,
        "max_length": spec.max_length,
        "preprocessing": spec.preprocessing,
        "parts": [
            {
                "name": p.name,
                "output_shape": list(p.output_shape),
                "layers": p.layers,
                "params": p.params,
                "macs": p.macs,
            }
            for p in parts
        ],
        "spec": spec.to_dict(),
    }
