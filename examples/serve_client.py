"""Read a captcha through `captcha serve` from Python, and decide: submit the answer, or fetch a
new captcha when the model is not sure enough. Standard library only.

Usage: python examples/serve_client.py IMAGE [--url http://127.0.0.1:8000] [--min-confidence 0.9]
       [--charset 0-9] [--length 4] [--api-key KEY]
Prints the answer and exits 0, or says why not and exits 1 (not sure enough) or 2 (refused).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def read_captcha(image: bytes, url: str, min_confidence: float, api_key: str | None = None, **query) -> dict:
    """The service's answer for one image: {"text", "confidence", "rejected"}."""
    params = {"min_confidence": min_confidence, **{k: v for k, v in query.items() if v is not None}}
    headers = {"Content-Type": "application/octet-stream", **({"X-API-Key": api_key} if api_key else {})}
    request = urllib.request.Request(f"{url}/predict?{urllib.parse.urlencode(params)}", image, headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--min-confidence", type=float, default=0.9)
    parser.add_argument("--charset")
    parser.add_argument("--length")
    parser.add_argument("--api-key")
    args = parser.parse_args()
    try:
        answer = read_captcha(
            args.image.read_bytes(),
            args.url,
            args.min_confidence,
            args.api_key,
            charset=args.charset,
            length=args.length,
        )
    except urllib.error.HTTPError as error:  # 400, 413, 422: the service says why in {"error": ...}
        print(f"refused ({error.code}): {json.load(error)['error']}", file=sys.stderr)
        return 2
    if answer["rejected"]:
        print(
            f"not sure enough ({answer['confidence']:.2f} < {args.min_confidence}): ask for a new captcha",
            file=sys.stderr,
        )
        return 1
    print(answer["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
