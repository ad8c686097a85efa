"""Content keys: the same facts give the same key on any machine, so caches can be shared."""

import hashlib
import json
from pathlib import Path


def content_key(facts: object) -> str:
    """SHA-256 of `facts` as canonical JSON (sorted keys): a cache key of what they describe."""
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def file_key(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
