"""Running the real command line as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys


def gethook(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python -m gethook_lite ARGS`` as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "gethook_lite", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ},
    )
