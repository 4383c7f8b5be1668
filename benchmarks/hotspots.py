"""Where the gateway's time goes: py-spy attached to its pid, summarised per function.

``Recorder`` samples a running process (``py-spy record --format raw``, collapsed stacks per
thread) between enter and exit; ``summarise`` turns a recording into the threads' shares and
the top functions by self time and by inclusive time, in percent of all samples.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections import Counter
from pathlib import Path

from harness import Procs

_LINE = re.compile(r":\d+\)$")
_DIGITS = re.compile(r"\d+")


class Recorder:
    """``with Recorder(procs, pid, folder, name):`` writes folder/profile-name.txt."""

    def __init__(self, procs: Procs, pid: int, folder: Path, name: str, rate: int = 100) -> None:
        self.procs = procs
        self.pid = pid
        self.output = folder / f"profile-{name}.txt"
        self.rate = rate
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Recorder:
        argv = [
            "py-spy", "record", "--pid", str(self.pid), "--rate", str(self.rate),
            "--nonblocking", "--threads", "--full-filenames", "--format", "raw",
            "--output", str(self.output),
        ]  # fmt: skip
        log = self.output.with_suffix(".log").open("w")
        self.process = self.procs.start(argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        # py-spy writes its file when interrupted, like Ctrl-C.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process in self.procs.children:
            self.procs.children.remove(self.process)


def _short(frame: str) -> str:
    """``fn (/…/site-packages/pkg/mod.py:12)`` → ``fn (pkg/mod.py)``."""
    frame = _LINE.sub(")", frame)
    for marker in ("site-packages/", "/gethook_lite/", "/lib/python3"):
        at = frame.find(marker)
        if at >= 0:
            start = frame.rfind("(", 0, at) + 1
            tail = frame[at + len(marker) :]
            if marker == "/gethook_lite/":
                tail = "gethook_lite/" + tail
            elif marker == "/lib/python3":
                tail = "stdlib/" + tail.split("/", 1)[-1]
            return frame[:start] + tail
    return frame


# The functions of gethook_lite/db/database.py that move calls between threads.
_HAND_OFF = ("_put", "_serve_writes", "_serve_reads", "_answer", "_answer_batch", "_settle")

# Where a sample's time belongs: the innermost frame that matches, in this order.
CATEGORIES = (
    ("access log", ("/logging/", "gethook_lite/api/access_log.py")),
    # Handing calls to the database's own threads and back: queueing a job, a thread's loop
    # around its queue, answering the caller's future (before db/*, which would take them).
    ("db thread hand-off", tuple(f"{fn} (gethook_lite/db/database.py)" for fn in _HAND_OFF)),
    ("sqlite writes (db/*)", ("gethook_lite/db/",)),
    ("delivery (scheduler, dispatch)", ("gethook_lite/delivery/",)),
    ("ingest domain (verify, type, hash, id)", ("gethook_lite/ingest/", "gethook_lite/ids.py")),
    ("gethook other (domain, api)", ("gethook_lite/",)),
    ("aiohttp client", ("aiohttp/",)),
    ("litestar framework", ("litestar/",)),
    ("uvicorn protocol", ("uvicorn/protocols/", "uvicorn/middleware/")),
)


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        if "gethook_lite/cli.py" in frame or "gethook_lite/__main__.py" in frame:
            continue  # the root of every main-thread stack, not where the time goes
        for name, markers in CATEGORIES:
            if any(marker in frame for marker in markers):
                return name
    return "event loop (uvloop C code: epoll, callbacks, transports), other"


def summarise(path: Path, top: int = 25) -> dict:
    """Threads' shares and the top functions (self and inclusive), in % of all samples."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    main_own: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = _DIGITS.sub("N", frames[0].split(": ", 1)[-1])
        categories[f"{thread.split(' ')[0]}: {_category(frames[1:])}"] += count
        frames = [_short(frame) for frame in frames[1:]]
        total += count
        threads[thread] += count
        if frames:
            own[frames[-1]] += count
            if thread.startswith("MainThread"):
                main_own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "threads": share(threads),
        "self": share(own),
        "inclusive": share(inclusive),
        "gethook_inclusive": share(
            Counter(
                {
                    k: v
                    for k, v in inclusive.items()
                    if "gethook_lite/" in k and not k.endswith(("cli.py)", "__main__.py)"))
                }
            )
        ),
        "categories": share(categories),
        "main_thread_self": share(main_own),
    }


def summarise_all(folder: Path) -> dict:
    return {
        path.stem.removeprefix("profile-"): summarise(path)
        for path in sorted(folder.glob("profile-*.txt"))
        if path.stat().st_size
    }
