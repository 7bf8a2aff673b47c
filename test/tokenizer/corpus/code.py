#!/usr/bin/env python3
"""A small module, to see how source code tokenizes."""

import os
from typing import Dict, List


class Counter:
    def __init__(self, start: int = 0) -> None:
        self._count = start  # private

    def increment(self, by: int = 1) -> int:
        if by <= 0:
            raise ValueError(f"by must be positive, got {by!r}")
        self._count += by
        return self._count


def histogram(words: List[str]) -> Dict[str, int]:
    result: Dict[str, int] = {}
    for w in words:
        result[w] = result.get(w, 0) + 1
    return {k: v for k, v in sorted(result.items(), key=lambda kv: -kv[1])}


if __name__ == "__main__":
    print(histogram(os.environ.get("WORDS", "a b a c").split()))
    x = [i ** 2 for i in range(10) if i % 2 == 0]; y = x[::-1]
    assert y[0] == 64 and len(x) != 0x1F
