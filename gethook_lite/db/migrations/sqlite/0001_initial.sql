-- The first schema (docs/wire.md and /openapi.json describe what it serves).
-- Times are unix seconds (REAL, UTC); JSON is stored as TEXT.
-- Columns ending in _enc hold Fernet-encrypted text (secrets at rest).

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    email           TEXT UNIQUE,             -- lower-cased; NULL for API-created accounts
    password_hash   TEXT,                    -- Argon2id
    retention_days  INTEGER NOT NULL,
    created_at      REAL NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id     TEXT,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    key_prefix  TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,        -- sha256 of the key; the key itself is never stored
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE INDEX api_keys_by_account ON api_keys (account_id, id);

CREATE TABLE custom_domains (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain              TEXT NOT NULL UNIQUE,
    type                TEXT NOT NULL DEFAULT 'ingest',
    status              TEXT NOT NULL DEFAULT 'pending_verification',
    tls_status          TEXT NOT NULL DEFAULT 'pending',
    verification_token  TEXT NOT NULL,
    created_at          REAL NOT NULL,
    verified_at         REAL
);
CREATE INDEX custom_domains_by_account ON custom_domains (account_id, id);

CREATE TABLE sources (
    id                       TEXT PRIMARY KEY,
    account_id               TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                     TEXT NOT NULL,
    path_token               TEXT NOT NULL UNIQUE,
    status                   TEXT NOT NULL DEFAULT 'active',
    auth_mode                TEXT NOT NULL DEFAULT 'none',
    provider                 TEXT,
    verification_config_enc  TEXT,           -- the whole config, encrypted (it holds secrets)
    custom_domain_id         TEXT REFERENCES custom_domains (id) ON DELETE SET NULL,
    created_at               REAL NOT NULL,
    deleted_at               REAL            -- soft delete: its events stay readable
);
CREATE INDEX sources_by_account ON sources (account_id, id) WHERE deleted_at IS NULL;

CREATE TABLE destinations (
    id                          TEXT PRIMARY KEY,
    account_id                  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                        TEXT NOT NULL,
    url                         TEXT NOT NULL,
    active                      INTEGER NOT NULL DEFAULT 1,
    timeout_seconds             INTEGER NOT NULL DEFAULT 30,
    auth_config_enc             TEXT,
    custom_headers              TEXT,        -- JSON object
    preset                      TEXT,
    signing_secret_enc          TEXT NOT NULL,
    previous_secret_enc         TEXT,        -- still signed with until previous_secret_expires_at
    previous_secret_expires_at  REAL,
    created_at                  REAL NOT NULL,
    updated_at                  REAL NOT NULL,
    deleted_at                  REAL
);
CREATE INDEX destinations_by_account ON destinations (account_id, id) WHERE deleted_at IS NULL;

CREATE TABLE routes (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    source_id           TEXT REFERENCES sources (id),
    destination_id      TEXT NOT NULL REFERENCES destinations (id),
    event_type_pattern  TEXT,
    retry_policy        TEXT NOT NULL,       -- JSON, the full effective policy
    active              INTEGER NOT NULL DEFAULT 1,
    created_at          REAL NOT NULL,
    deleted_at          REAL                 -- soft delete: deliveries keep their policy
);
CREATE INDEX routes_by_account ON routes (account_id, id) WHERE deleted_at IS NULL;
CREATE INDEX routes_by_source ON routes (source_id) WHERE deleted_at IS NULL;

CREATE TABLE events (
    id                 TEXT PRIMARY KEY,     -- time-ordered: id order is arrival order
    account_id         TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    direction          TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    source_id          TEXT REFERENCES sources (id),
    event_type         TEXT,
    external_event_id  TEXT,
    payload_hash       TEXT,
    content_type       TEXT,
    headers            TEXT NOT NULL,        -- JSON object of the request headers we keep
    body               BLOB NOT NULL,        -- the raw bytes, byte for byte
    status             TEXT NOT NULL,
    attempts_count     INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    REAL,
    final_state        TEXT,
    created_by         TEXT NOT NULL,        -- ingest | api | replay
    replay_of          TEXT,
    replayed_at        REAL,
    received_at        REAL NOT NULL,
    created_at         REAL NOT NULL
);
CREATE INDEX events_by_account ON events (account_id, direction, id);
CREATE INDEX events_by_status ON events (account_id, direction, status, id);
CREATE INDEX events_by_source ON events (source_id, id);
CREATE INDEX events_by_type ON events (account_id, direction, event_type, id);
-- Dedupe: one original event per (source, external id) inbound and per (account, id) outbound.
CREATE UNIQUE INDEX events_inbound_dedupe ON events (source_id, external_event_id)
    WHERE direction = 'inbound' AND external_event_id IS NOT NULL AND created_by <> 'replay';
CREATE UNIQUE INDEX events_outbound_dedupe ON events (account_id, external_event_id)
    WHERE direction = 'outbound' AND external_event_id IS NOT NULL AND created_by <> 'replay';

-- One row per (event, destination): the unit the scheduler delivers, retries and leases.
CREATE TABLE deliveries (
    id                INTEGER PRIMARY KEY,
    event_id          TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    account_id        TEXT NOT NULL,
    destination_id    TEXT NOT NULL REFERENCES destinations (id),
    route_id          TEXT NOT NULL REFERENCES routes (id),
    status            TEXT NOT NULL,         -- pending | in_flight | succeeded | dead_letter | cancelled
    attempts_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   REAL,
    lease_expires_at  REAL,
    last_outcome      TEXT,
    created_at        REAL NOT NULL,
    finished_at       REAL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX deliveries_by_event ON deliveries (event_id);
CREATE INDEX deliveries_open_by_destination ON deliveries (destination_id)
    WHERE status IN ('pending', 'in_flight');

CREATE TABLE attempts (
    id               TEXT PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    delivery_id      INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    destination_id   TEXT NOT NULL,
    attempt_number   INTEGER NOT NULL,
    started_at       REAL NOT NULL,
    finished_at      REAL,
    response_status  INTEGER,
    response_body    TEXT,
    error_message    TEXT,
    latency_ms       REAL,
    outcome          TEXT NOT NULL
);
CREATE INDEX attempts_by_event ON attempts (event_id, id);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);

CREATE TABLE exports (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status        TEXT NOT NULL,
    format        TEXT NOT NULL,
    filters       TEXT NOT NULL,             -- JSON
    file_name     TEXT,                      -- inside <data_dir>/exports, never from input
    row_count     INTEGER,
    size_bytes    INTEGER,
    error         TEXT,
    created_at    REAL NOT NULL,
    completed_at  REAL,
    expires_at    REAL
);
CREATE INDEX exports_by_account ON exports (account_id, id);

CREATE TABLE brand_settings (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
    company_name   TEXT,
    logo_url       TEXT,
    primary_color  TEXT,
    support_email  TEXT,
    docs_title     TEXT,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);

-- Instance-wide counters that survive retention (platform stats).
CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
