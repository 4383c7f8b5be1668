"""Start-up pass: encrypt custom headers stored in plain text by versions before encryption.

It runs once at each start and finds nothing to do after the first; a row changed meanwhile
through the API is already encrypted and is left alone. The plaintext stays readable until
then (``gethook_lite.custom_headers``), so nothing breaks if the pass fails. With several
processes on PostgreSQL the leader runs it, each time it takes the lead (tasks/cluster.py).
"""

from __future__ import annotations

import json
import logging

from gethook_lite.context import Context
from gethook_lite.custom_headers import seal_custom_headers
from gethook_lite.db import destination_headers as store

__all__ = ["seal_plaintext_headers", "start"]

log = logging.getLogger(__name__)


async def seal_plaintext_headers(ctx: Context) -> int:
    """Encrypt every plaintext custom-headers value; how many rows were encrypted."""
    rows = await ctx.db.read(store.plaintext_custom_headers)
    if not rows:
        return 0
    sealed = [
        (destination_id, stored, seal_custom_headers(ctx.secrets, json.loads(stored)))
        for destination_id, stored in rows
    ]
    changed = await ctx.db.write(store.replace_custom_headers, sealed)
    log.info("encrypted the custom headers of %d destination(s) at rest", changed)
    return changed


async def start(ctx: Context) -> None:
    """Run the pass once; nothing stays running. A failure is logged, never fatal: the
    plaintext rows stay readable and the next start tries again."""
    try:
        await seal_plaintext_headers(ctx)
    except Exception:
        log.exception("could not encrypt stored custom headers; will retry at the next start")
