"""Sources, destinations and routes: what a user wires together through the API."""

from __future__ import annotations

from gethook_lite.db.connection import Connection
from gethook_lite.db.rows import Row, all_rows, insert, one_row

__all__ = [
    "delete_destination",
    "delete_route",
    "delete_source",
    "find_source_by_token",
    "get_destination",
    "get_source",
    "insert_destination",
    "insert_route",
    "insert_source",
    "list_destinations",
    "list_routes",
    "list_sources",
    "matching_routes",
    "update_destination",
    "update_source",
    "update_source_verification",
]

_DESTINATION_UPDATABLE = frozenset(
    {
        "name",
        "url",
        "timeout_seconds",
        "forward_original_headers",
        "rate_limit_count",
        "rate_limit_period",
        "max_concurrency",
        "ordering",
        "auth_config_enc",
        "custom_headers",
        "active",
        "signing_secret_enc",
        "previous_secret_enc",
        "previous_secret_expires_at",
        "updated_at",
    }
)


# The smallest step of updated_at that a float near today's unix time still represents.
_MIN_VERSION_STEP = 1e-6


# -- sources -------------------------------------------------------------------------------

# A source with the name of its verified custom domain, which its ingest URL uses.
_SOURCE_SELECT = (
    "SELECT s.*, CASE WHEN d.status = 'verified' THEN d.domain END AS custom_domain"
    " FROM sources s LEFT JOIN custom_domains d ON d.id = s.custom_domain_id"
)


def insert_source(conn: Connection, source: Row) -> Row:
    return insert(conn, "sources", source)


def get_source(conn: Connection, account_id: str, source_id: str) -> Row | None:
    return one_row(
        conn.execute(
            f"{_SOURCE_SELECT} WHERE s.account_id = ? AND s.id = ? AND s.deleted_at IS NULL",
            (account_id, source_id),
        )
    )


def list_sources(conn: Connection, account_id: str) -> list[Row]:
    return all_rows(
        conn.execute(
            f"{_SOURCE_SELECT} WHERE s.account_id = ? AND s.deleted_at IS NULL ORDER BY s.id",
            (account_id,),
        )
    )


def find_source_by_token(conn: Connection, path_token: str) -> Row | None:
    """The live source behind an ingest URL, with its domain's name when it has one."""
    return one_row(
        conn.execute(
            f"{_SOURCE_SELECT} WHERE s.path_token = ? AND s.deleted_at IS NULL",
            (path_token,),
        )
    )


def update_source(
    conn: Connection,
    account_id: str,
    source_id: str,
    name: str,
    custom_domain_id,
    sink: bool,
) -> Row | None:
    """Rename a source, attach it to a custom domain (or detach it: None), set sink mode."""
    cursor = conn.execute(
        "UPDATE sources SET name = ?, custom_domain_id = ?, sink = ?"
        " WHERE account_id = ? AND id = ? AND deleted_at IS NULL",
        (name, custom_domain_id, int(sink), account_id, source_id),
    )
    return get_source(conn, account_id, source_id) if cursor.rowcount else None


def update_source_verification(
    conn: Connection,
    account_id: str,
    source_id: str,
    auth_mode: str,
    provider: str | None,
    verification_config_enc: str | None,
) -> Row | None:
    """Set how a source's requests are verified (the config arrives already encrypted)."""
    cursor = conn.execute(
        "UPDATE sources SET auth_mode = ?, provider = ?, verification_config_enc = ?"
        " WHERE account_id = ? AND id = ? AND deleted_at IS NULL",
        (auth_mode, provider, verification_config_enc, account_id, source_id),
    )
    return get_source(conn, account_id, source_id) if cursor.rowcount else None


def delete_source(conn: Connection, account_id: str, source_id: str, now: float) -> bool:
    """Soft-delete a source (its events stay readable) and the routes that start from it."""
    cursor = conn.execute(
        "UPDATE sources SET deleted_at = ? WHERE account_id = ? AND id = ? AND deleted_at IS NULL",
        (now, account_id, source_id),
    )
    if cursor.rowcount == 0:
        return False
    conn.execute(
        "UPDATE routes SET deleted_at = ? WHERE source_id = ? AND deleted_at IS NULL",
        (now, source_id),
    )
    return True


# -- destinations ----------------------------------------------------------------------------


def insert_destination(conn: Connection, destination: Row) -> Row:
    return insert(conn, "destinations", destination)


def get_destination(conn: Connection, account_id: str, destination_id: str) -> Row | None:
    return one_row(
        conn.execute(
            "SELECT * FROM destinations WHERE account_id = ? AND id = ? AND deleted_at IS NULL",
            (account_id, destination_id),
        )
    )


def list_destinations(conn: Connection, account_id: str) -> list[Row]:
    return all_rows(
        conn.execute(
            "SELECT * FROM destinations WHERE account_id = ? AND deleted_at IS NULL ORDER BY id",
            (account_id,),
        )
    )


def update_destination(
    conn: Connection, account_id: str, destination_id: str, changes: Row
) -> Row | None:
    """Apply ``changes`` (column → value) and return the updated row, or None if not found."""
    unknown = set(changes) - _DESTINATION_UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = ", ".join(_assignment(column) for column in changes)
    cursor = conn.execute(
        f"UPDATE destinations SET {assignments}"
        " WHERE account_id = :_account_id AND id = :_id AND deleted_at IS NULL",
        {**changes, "_account_id": account_id, "_id": destination_id},
    )
    if cursor.rowcount == 0:
        return None
    return get_destination(conn, account_id, destination_id)


def _assignment(column: str) -> str:
    if column == "updated_at":
        # Delivery caches a destination's prepared headers and secrets by updated_at, so every
        # change must move it forward, even when the clock has not (same tick, or a step back).
        # CASE, not the two-argument MAX(): that one is SQLite's only.
        return (
            f"updated_at = CASE WHEN :updated_at > updated_at + {_MIN_VERSION_STEP}"
            f" THEN :updated_at ELSE updated_at + {_MIN_VERSION_STEP} END"
        )
    return f"{column} = :{column}"


def delete_destination(conn: Connection, account_id: str, destination_id: str, now: float) -> bool:
    """Soft-delete a destination and remove the routes to it."""
    cursor = conn.execute(
        "UPDATE destinations SET deleted_at = ?, active = 0"
        " WHERE account_id = ? AND id = ? AND deleted_at IS NULL",
        (now, account_id, destination_id),
    )
    if cursor.rowcount == 0:
        return False
    conn.execute(
        "UPDATE routes SET deleted_at = ? WHERE destination_id = ? AND deleted_at IS NULL",
        (now, destination_id),
    )
    return True


# -- routes ----------------------------------------------------------------------------------


def insert_route(conn: Connection, route: Row) -> Row:
    return insert(conn, "routes", route)


def list_routes(conn: Connection, account_id: str) -> list[Row]:
    return all_rows(
        conn.execute(
            "SELECT * FROM routes WHERE account_id = ? AND deleted_at IS NULL ORDER BY id",
            (account_id,),
        )
    )


def delete_route(conn: Connection, account_id: str, route_id: str, now: float) -> bool:
    cursor = conn.execute(
        "UPDATE routes SET deleted_at = ? WHERE account_id = ? AND id = ? AND deleted_at IS NULL",
        (now, account_id, route_id),
    )
    return cursor.rowcount > 0


def matching_routes(conn: Connection, account_id: str, source_id: str | None) -> list[Row]:
    """Active routes (to active destinations) for a source's events, or outbound when None."""
    source_clause = "r.source_id = ?" if source_id is not None else "r.source_id IS NULL"
    params = (account_id, source_id) if source_id is not None else (account_id,)
    return all_rows(
        conn.execute(
            "SELECT r.id, r.destination_id, r.event_type_pattern FROM routes r"
            " JOIN destinations d ON d.id = r.destination_id"
            " WHERE r.account_id = ? AND " + source_clause + " AND r.active = 1"
            " AND r.deleted_at IS NULL AND d.active = 1 AND d.deleted_at IS NULL ORDER BY r.id",
            params,
        )
    )
