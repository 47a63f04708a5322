"""JSON in and out of jsonb / text columns."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
