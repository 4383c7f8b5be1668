"""A fake TXT resolver for custom-domain verification, passed to ``create_app(txt_resolver=)``."""

from __future__ import annotations

from gethook_lite.domain.domains import DnsLookupFailed

__all__ = ["FakeResolver", "dns_answers"]


class FakeResolver:
    """Answers TXT look-ups from a dict (or fails), and remembers what it was asked."""

    def __init__(self, records: dict[str, list[str]] | None = None, error: str | None = None):
        self.records: dict[str, list[str]] = {}
        self.error: str | None = None
        self.asked: list[str] = []
        self.answer(records, error)

    def answer(
        self, records: dict[str, list[str]] | None = None, error: str | None = None
    ) -> FakeResolver:
        """From now on answer ``records`` (or fail with ``error``); forget what was asked."""
        self.records = records or {}
        self.error = error
        self.asked = []
        return self

    async def txt(self, name: str) -> list[str]:
        self.asked.append(name)
        if self.error:
            raise DnsLookupFailed(self.error)
        return self.records.get(name, [])


def dns_answers(
    client, records: dict[str, list[str]] | None = None, error: str | None = None
) -> FakeResolver:
    """Make the in-process app's fake resolver answer ``records`` (or fail with ``error``)."""
    resolver = client.app.state.ctx.txt_resolver
    assert isinstance(resolver, FakeResolver), "create the app with txt_resolver=FakeResolver()"
    return resolver.answer(records, error)
