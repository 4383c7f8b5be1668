-- Dashboard sign-in sessions (gethook_lite/web/sessions.py). The cookie holds a random token;
-- only its sha256 is stored, so a copy of the database cannot be used to sign in.
CREATE TABLE web_sessions (
    token_hash  TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id      TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    owns_key    INTEGER NOT NULL,             -- 1: the key was made for this sign-in (revoked at sign-out)
    csrf_token  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
