"""Brand settings and custom domains: what an account puts its own name and hostname on."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.rows import Row, all_rows, insert, one_row

__all__ = [
    "BRAND_FIELDS",
    "delete_custom_domain",
    "delete_expired_claims",
    "find_account_claim",
    "find_verified_domain",
    "get_brand_settings",
    "get_custom_domain",
    "insert_custom_domain",
    "list_custom_domain_names",
    "list_custom_domains",
    "mark_custom_domain_verified",
    "upsert_brand_settings",
]

# The columns an upsert may set; the SQL below is built from these names only, never from input.
BRAND_FIELDS = ("company_name", "logo_url", "primary_color", "support_email", "docs_title")


# -- brand settings --------------------------------------------------------------------------


def get_brand_settings(conn: Connection, account_id: str) -> Row | None:
    return one_row(conn.execute("SELECT * FROM brand_settings WHERE account_id = ?", (account_id,)))


def upsert_brand_settings(
    conn: Connection, account_id: str, new_id: str, changes: Row, now: float
) -> Row:
    """Create the account's settings or overwrite only the ``changes`` columns; return the row."""
    unknown = set(changes) - set(BRAND_FIELDS)
    if unknown:
        raise ValueError(f"not brand settings: {sorted(unknown)}")
    # One statement, so a concurrent first upsert cannot create a second row.
    updates = "".join(f", {column} = excluded.{column}" for column in changes)
    values = {column: changes.get(column) for column in BRAND_FIELDS}
    conn.execute(
        "INSERT INTO brand_settings (id, account_id, company_name, logo_url, primary_color,"
        " support_email, docs_title, created_at, updated_at)"
        " VALUES (:id, :account_id, :company_name, :logo_url, :primary_color, :support_email,"
        " :docs_title, :now, :now)"
        f" ON CONFLICT (account_id) DO UPDATE SET updated_at = excluded.updated_at{updates}",
        {**values, "id": new_id, "account_id": account_id, "now": now},
    )
    row = get_brand_settings(conn, account_id)
    assert row is not None
    return row


# -- custom domains --------------------------------------------------------------------------


def find_verified_domain(conn: Connection, domain: str) -> Row | None:
    """The verified registration of a hostname (its owner's), whichever account made it."""
    return one_row(
        conn.execute(
            "SELECT * FROM custom_domains WHERE domain = ? AND status = 'verified'", (domain,)
        )
    )


def find_account_claim(conn: Connection, account_id: str, domain: str) -> Row | None:
    """The account's own registration of a hostname, pending or verified."""
    return one_row(
        conn.execute(
            "SELECT * FROM custom_domains WHERE domain = ? AND account_id = ?", (domain, account_id)
        )
    )


def insert_custom_domain(conn: Connection, row: Row) -> Row:
    return insert(conn, "custom_domains", row)


def get_custom_domain(conn: Connection, account_id: str, domain_id: str) -> Row | None:
    return one_row(
        conn.execute(
            "SELECT * FROM custom_domains WHERE account_id = ? AND id = ?", (account_id, domain_id)
        )
    )


def list_custom_domains(conn: Connection, account_id: str) -> list[Row]:
    return all_rows(
        conn.execute("SELECT * FROM custom_domains WHERE account_id = ? ORDER BY id", (account_id,))
    )


def list_custom_domain_names(conn: Connection) -> list[str]:
    """Every verified hostname, of every account (the ingest host check caches these).

    Pending claims are nobody's yet: they must not change how a host is routed.
    """
    return [
        row[0]
        for row in conn.execute("SELECT domain FROM custom_domains WHERE status = 'verified'")
    ]


def mark_custom_domain_verified(
    conn: Connection, account_id: str, domain_id: str, tls_status: str, now: float
) -> Row | None:
    """Record a successful ownership check; the row as it is now, or None when not found."""
    conn.execute(
        "UPDATE custom_domains SET status = 'verified', tls_status = ?,"
        " verified_at = coalesce(verified_at, ?) WHERE account_id = ? AND id = ?",
        (tls_status, now, account_id, domain_id),
    )
    return get_custom_domain(conn, account_id, domain_id)


def delete_custom_domain(conn: Connection, account_id: str, domain_id: str) -> bool:
    """Remove a registration; its sources fall back to the base URL (ON DELETE SET NULL)."""
    cursor = conn.execute(
        "DELETE FROM custom_domains WHERE account_id = ? AND id = ?", (account_id, domain_id)
    )
    return cursor.rowcount > 0


def delete_expired_claims(conn: Connection, cutoff: float, limit: int) -> int:
    """Delete up to ``limit`` pending claims registered before ``cutoff``; the count."""
    cursor = conn.execute(
        "DELETE FROM custom_domains WHERE id IN ("
        " SELECT id FROM custom_domains"
        " WHERE status = 'pending_verification' AND created_at < ? LIMIT ?)",
        (cutoff, limit),
    )
    return cursor.rowcount
