-- Customer portal sessions (gethook_lite/domain/portal.py): what one of the account's own
-- customers may see and do at /portal/{token}. Only the token's sha256 is stored.
CREATE TABLE portal_sessions (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash       TEXT NOT NULL UNIQUE,
    destination_ids  TEXT NOT NULL,           -- JSON array of destination ids
    capabilities     TEXT NOT NULL,           -- JSON array: view, replay, rotate_secret, edit_url
    allowed_origins  TEXT NOT NULL,           -- JSON array of origins that may embed the portal
    csrf_token       TEXT NOT NULL,
    created_at       REAL NOT NULL,
    expires_at       REAL NOT NULL,
    revoked_at       REAL
);
CREATE INDEX portal_sessions_by_account ON portal_sessions (account_id);
