-- PostgreSQL baseline: the schema of SQLite migrations 0001-0017, in one file.
-- Times stay unix seconds (double precision) and 0/1 flags stay integers, so that Python sees
-- the same values from both backends. Text ids must sort byte by byte as in SQLite: the
-- migration runner refuses a database whose collation is not C / POSIX / C.UTF-8.
-- Foreign keys without an ON DELETE action are DEFERRABLE INITIALLY DEFERRED: SQLite checks
-- them when the statement ends, after every cascade; PostgreSQL would check them as each
-- cascade runs, and deleting an account (cascading to destinations and, by another path,
-- to the events and deliveries that reference them) would fail.

CREATE TABLE accounts (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    email           text UNIQUE,
    password_hash   text,
    retention_days  integer NOT NULL,
    created_at      double precision NOT NULL
);

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id     text,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'viewer')),
    key_prefix  text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    created_at  double precision NOT NULL,
    revoked_at  double precision
);
CREATE INDEX api_keys_by_account ON api_keys (account_id, id);

CREATE TABLE custom_domains (
    id                  text PRIMARY KEY,
    account_id          text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain              text NOT NULL,
    type                text NOT NULL DEFAULT 'ingest',
    status              text NOT NULL DEFAULT 'pending_verification',
    tls_status          text NOT NULL DEFAULT 'pending',
    verification_token  text NOT NULL,
    created_at          double precision NOT NULL,
    verified_at         double precision
);
CREATE INDEX custom_domains_by_account ON custom_domains (account_id, id);
CREATE UNIQUE INDEX custom_domains_verified_name ON custom_domains (domain)
    WHERE status = 'verified';
CREATE UNIQUE INDEX custom_domains_claim ON custom_domains (domain, account_id);
CREATE INDEX custom_domains_pending_since ON custom_domains (created_at)
    WHERE status = 'pending_verification';

CREATE TABLE sources (
    id                       text PRIMARY KEY,
    account_id               text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                     text NOT NULL,
    path_token               text NOT NULL UNIQUE,
    status                   text NOT NULL DEFAULT 'active',
    auth_mode                text NOT NULL DEFAULT 'none',
    provider                 text,
    verification_config_enc  text,
    custom_domain_id         text REFERENCES custom_domains (id) ON DELETE SET NULL,
    created_at               double precision NOT NULL,
    deleted_at               double precision,
    sink                     integer NOT NULL DEFAULT 0 CHECK (sink IN (0, 1))
);
CREATE INDEX sources_by_account ON sources (account_id, id) WHERE deleted_at IS NULL;

CREATE TABLE destinations (
    id                          text PRIMARY KEY,
    account_id                  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                        text NOT NULL,
    url                         text NOT NULL,
    active                      integer NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    timeout_seconds             integer NOT NULL DEFAULT 30,
    auth_config_enc             text,
    custom_headers              text,
    preset                      text,
    signing_secret_enc          text NOT NULL,
    previous_secret_enc         text,
    previous_secret_expires_at  double precision,
    created_at                  double precision NOT NULL,
    updated_at                  double precision NOT NULL,
    deleted_at                  double precision,
    forward_original_headers    integer NOT NULL DEFAULT 0
                                CHECK (forward_original_headers IN (0, 1)),
    rate_limit_count            integer,
    rate_limit_period           integer CHECK (rate_limit_period IS NULL
                                               OR rate_limit_period IN (1, 60)),
    max_concurrency             integer,
    ordering                    text NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'fifo'))
);
CREATE INDEX destinations_by_account ON destinations (account_id, id) WHERE deleted_at IS NULL;
CREATE INDEX destinations_paced ON destinations (id)
    WHERE rate_limit_count IS NOT NULL OR max_concurrency IS NOT NULL OR ordering = 'fifo';

CREATE TABLE routes (
    id                  text PRIMARY KEY,
    account_id          text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    source_id           text REFERENCES sources (id) DEFERRABLE INITIALLY DEFERRED,
    destination_id      text NOT NULL REFERENCES destinations (id)
                        DEFERRABLE INITIALLY DEFERRED,
    event_type_pattern  text,
    retry_policy        text NOT NULL,
    active              integer NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at          double precision NOT NULL,
    deleted_at          double precision,
    ordering            text NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'fifo'))
);
CREATE INDEX routes_by_account ON routes (account_id, id) WHERE deleted_at IS NULL;
CREATE INDEX routes_by_source ON routes (source_id) WHERE deleted_at IS NULL;
CREATE INDEX routes_fifo ON routes (destination_id) WHERE ordering = 'fifo';

CREATE TABLE events (
    id                 text PRIMARY KEY,
    account_id         text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    direction          text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    source_id          text REFERENCES sources (id) DEFERRABLE INITIALLY DEFERRED,
    event_type         text,
    external_event_id  text,
    payload_hash       text,
    content_type       text,
    headers            text NOT NULL,
    body               bytea NOT NULL,
    status             text NOT NULL,
    attempts_count     integer NOT NULL DEFAULT 0,
    next_attempt_at    double precision,
    final_state        text,
    created_by         text NOT NULL,
    replay_of          text,
    replayed_at        double precision,
    received_at        double precision NOT NULL,
    created_at         double precision NOT NULL,
    request_method     text,
    request_path       text,
    request_query      text,
    capture            integer NOT NULL DEFAULT 0 CHECK (capture IN (0, 1)),
    bulk_retry_id      text
);
CREATE INDEX events_by_account ON events (account_id, direction, id);
CREATE INDEX events_by_status ON events (account_id, direction, status, id);
CREATE INDEX events_by_source ON events (source_id, id);
CREATE INDEX events_by_type ON events (account_id, direction, event_type, id);
CREATE INDEX events_by_received ON events (account_id, received_at);
CREATE INDEX events_by_source_status ON events (source_id, status, account_id, direction, id);
CREATE UNIQUE INDEX events_inbound_dedupe ON events (source_id, external_event_id)
    WHERE direction = 'inbound' AND external_event_id IS NOT NULL AND created_by <> 'replay'
      AND capture = 0;
CREATE UNIQUE INDEX events_outbound_dedupe ON events (account_id, external_event_id)
    WHERE direction = 'outbound' AND external_event_id IS NOT NULL AND created_by <> 'replay';
CREATE INDEX events_by_bulk_retry ON events (bulk_retry_id, status)
    WHERE bulk_retry_id IS NOT NULL;

CREATE TABLE deliveries (
    id                bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    event_id          text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    account_id        text NOT NULL,
    destination_id    text NOT NULL REFERENCES destinations (id)
                      DEFERRABLE INITIALLY DEFERRED,
    route_id          text NOT NULL REFERENCES routes (id) DEFERRABLE INITIALLY DEFERRED,
    status            text NOT NULL,
    attempts_count    integer NOT NULL DEFAULT 0,
    next_attempt_at   double precision,
    lease_expires_at  double precision,
    last_outcome      text,
    created_at        double precision NOT NULL,
    finished_at       double precision,
    held_at           double precision
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, destination_id, account_id)
    WHERE status = 'pending';
CREATE INDEX deliveries_due_by_destination ON deliveries (destination_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX deliveries_by_event ON deliveries (event_id);
CREATE INDEX deliveries_open_by_destination ON deliveries (destination_id)
    WHERE status IN ('pending', 'in_flight');
CREATE INDEX deliveries_held ON deliveries (destination_id, id) WHERE status = 'held';
CREATE INDEX deliveries_fifo_queue ON deliveries (destination_id, event_id)
    WHERE status IN ('pending', 'in_flight', 'held');
CREATE INDEX deliveries_dead_letters ON deliveries (account_id, event_id, destination_id)
    WHERE status = 'dead_letter';
CREATE INDEX deliveries_retrying ON deliveries (account_id, event_id, destination_id)
    WHERE status = 'pending' AND attempts_count > 0;
-- The leased set swings from 0 to thousands in seconds: keep its statistics fresh (docs/design/postgresql.md §1:
-- the planner trap).
ALTER TABLE deliveries SET (autovacuum_analyze_scale_factor = 0.01);

CREATE TABLE attempts (
    id               text PRIMARY KEY,
    event_id         text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    delivery_id      bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    destination_id   text NOT NULL,
    attempt_number   integer NOT NULL,
    started_at       double precision NOT NULL,
    finished_at      double precision,
    response_status  integer,
    response_body    text,
    error_message    text,
    latency_ms       double precision,
    outcome          text NOT NULL
);
CREATE INDEX attempts_by_event ON attempts (event_id, id);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);

CREATE TABLE exports (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status        text NOT NULL,
    format        text NOT NULL,
    filters       text NOT NULL,
    file_name     text,
    row_count     integer,
    size_bytes    bigint,
    error         text,
    created_at    double precision NOT NULL,
    completed_at  double precision,
    expires_at    double precision
);
CREATE INDEX exports_by_account ON exports (account_id, id);
CREATE INDEX exports_pending ON exports (id) WHERE status = 'pending';
CREATE INDEX exports_expiring ON exports (expires_at) WHERE file_name IS NOT NULL;

CREATE TABLE brand_settings (
    id             text PRIMARY KEY,
    account_id     text NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
    company_name   text,
    logo_url       text,
    primary_color  text,
    support_email  text,
    docs_title     text,
    created_at     double precision NOT NULL,
    updated_at     double precision NOT NULL
);

-- Sharded (see §6.6): a reader sums the shards; one shard may hold a negative n.
CREATE TABLE counters (
    name   text NOT NULL,
    shard  smallint NOT NULL DEFAULT 0,
    value  bigint NOT NULL,
    PRIMARY KEY (name, shard)
);
INSERT INTO counters (name, value) VALUES
    ('events_processed', 0), ('events_delivered', 0), ('events_dead_lettered', 0),
    ('delivery_attempts', 0);

CREATE TABLE event_tallies (
    account_id   text NOT NULL,
    day          bigint NOT NULL,          -- floor(received_at / 86400): a cast would round
    direction    text NOT NULL,
    status       text NOT NULL,
    final_state  text NOT NULL,
    shard        smallint NOT NULL DEFAULT 0,
    n            bigint NOT NULL,
    PRIMARY KEY (account_id, day, direction, status, final_state, shard)
);

CREATE TABLE instance_meta (
    name   text PRIMARY KEY,
    value  text NOT NULL
);

CREATE TABLE web_sessions (
    token_hash  text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_id      text NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    owns_key    integer NOT NULL CHECK (owns_key IN (0, 1)),
    csrf_token  text NOT NULL,
    created_at  double precision NOT NULL,
    expires_at  double precision NOT NULL
);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);

-- The change log: read in (txid, seq) order below the snapshot horizon (§6.6).
CREATE TABLE changes (
    seq             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    txid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    account_id      text NOT NULL,
    kind            text NOT NULL,
    subject_id      text NOT NULL,
    source_id       text,
    direction       text NOT NULL,
    event_type      text,
    status          text,
    attempt_id      text,
    destination_id  text,
    created_at      double precision NOT NULL
);
CREATE INDEX changes_in_commit_order ON changes (txid, seq);
CREATE INDEX changes_by_account ON changes (account_id, txid, seq);

CREATE TABLE rejected_requests (
    id           text PRIMARY KEY,
    account_id   text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    source_id    text NOT NULL REFERENCES sources (id) DEFERRABLE INITIALLY DEFERRED,
    reason       text NOT NULL,
    headers      text NOT NULL,
    body         bytea NOT NULL,
    body_size    integer NOT NULL,
    received_at  double precision NOT NULL
);
CREATE INDEX rejected_requests_by_source ON rejected_requests (source_id, id);
CREATE INDEX rejected_requests_by_account ON rejected_requests (account_id, received_at);

CREATE TABLE portal_sessions (
    id               text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash       text NOT NULL UNIQUE,
    destination_ids  text NOT NULL,
    capabilities     text NOT NULL,
    allowed_origins  text NOT NULL,
    csrf_token       text NOT NULL,
    created_at       double precision NOT NULL,
    expires_at       double precision NOT NULL,
    revoked_at       double precision
);
CREATE INDEX portal_sessions_by_account ON portal_sessions (account_id);

CREATE TABLE sink_response_plans (
    source_id   text PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    statuses    text NOT NULL,
    delay_ms    integer NOT NULL DEFAULT 0,
    body        text,
    position    integer NOT NULL DEFAULT 0,
    updated_at  double precision NOT NULL
);

CREATE TABLE destination_control (
    destination_id  text PRIMARY KEY REFERENCES destinations (id) ON DELETE CASCADE,
    account_id      text NOT NULL,
    paused_at       double precision,
    paused_reason   text,
    circuit_state   text NOT NULL DEFAULT 'closed',
    next_probe_at   double precision,
    opened_at       double precision,
    breaker         text
);
CREATE INDEX destination_control_holding ON destination_control (destination_id)
    WHERE paused_at IS NOT NULL OR circuit_state <> 'closed';

CREATE TABLE destination_notices (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    destination_id  text NOT NULL,
    type            text NOT NULL,
    payload         text NOT NULL,
    created_at      double precision NOT NULL
);

CREATE TABLE bulk_retries (
    id           text PRIMARY KEY,
    account_id   text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status       text NOT NULL,
    filter       text NOT NULL,
    matched      integer NOT NULL,
    done         integer NOT NULL DEFAULT 0,
    failed       integer NOT NULL DEFAULT 0,
    cursor       text NOT NULL DEFAULT '',
    upto         text NOT NULL,
    error        text,
    created_at   double precision NOT NULL,
    started_at   double precision,
    finished_at  double precision
);
CREATE INDEX bulk_retries_by_account ON bulk_retries (account_id, id);
CREATE INDEX bulk_retries_active ON bulk_retries (id) WHERE status IN ('queued', 'running');

-- Triggers: those SQLite still has after 0017 (0002's status/delete/attempt triggers, 0010's
-- status, rejected-request and account-delete triggers), one function per table and event.
-- No insert trigger on events: since 0017 accept_events writes the change rows and tallies
-- once per batch in Python (db/changes.log_received, db/stats.count_inserted), on PostgreSQL
-- into the caller's shard (§3.3).

CREATE FUNCTION gethook_shard() RETURNS smallint LANGUAGE sql STABLE
AS $$ SELECT (pg_backend_pid() % 8)::smallint $$;

CREATE FUNCTION gethook_tally(account text, received double precision, dir text, st text,
                              fin text, delta integer) RETURNS void LANGUAGE sql
AS $$
    INSERT INTO event_tallies AS t (account_id, day, direction, status, final_state, shard, n)
    VALUES (account, floor(received / 86400)::bigint, dir, st, coalesce(fin, ''),
            gethook_shard(), delta)
    ON CONFLICT (account_id, day, direction, status, final_state, shard)
    DO UPDATE SET n = t.n + excluded.n
$$;

CREATE FUNCTION gethook_count(counter text, delta integer) RETURNS void LANGUAGE sql
AS $$
    INSERT INTO counters AS c (name, shard, value) VALUES (counter, gethook_shard(), delta)
    ON CONFLICT (name, shard) DO UPDATE SET value = c.value + excluded.value
$$;

CREATE FUNCTION gethook_finished_counter(final_state text) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE final_state WHEN 'delivered' THEN 'events_delivered'
                              WHEN 'dead_letter' THEN 'events_dead_lettered' END $$;

CREATE FUNCTION events_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    attempt_id text;
    attempt_destination text;
BEGIN
    PERFORM gethook_tally(OLD.account_id, OLD.received_at, OLD.direction, OLD.status,
                          OLD.final_state, -1);
    PERFORM gethook_tally(NEW.account_id, NEW.received_at, NEW.direction, NEW.status,
                          NEW.final_state, 1);
    IF NEW.final_state IN ('delivered', 'dead_letter')
       AND OLD.final_state IS DISTINCT FROM NEW.final_state THEN
        PERFORM gethook_count(gethook_finished_counter(NEW.final_state), 1);
    END IF;
    IF OLD.status IS DISTINCT FROM NEW.status THEN
        IF NEW.status NOT IN ('queued', 'delivering', 'replayed') THEN
            SELECT a.id, a.destination_id INTO attempt_id, attempt_destination
            FROM attempts a WHERE a.event_id = NEW.id ORDER BY a.id DESC LIMIT 1;
        END IF;
        INSERT INTO changes (account_id, kind, subject_id, source_id, direction, event_type,
                             status, attempt_id, destination_id, created_at)
        VALUES (NEW.account_id, 'event.updated', NEW.id, NEW.source_id, NEW.direction,
                NEW.event_type, NEW.status, attempt_id, attempt_destination,
                extract(epoch FROM clock_timestamp()));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER events_changed AFTER UPDATE OF status, final_state ON events
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.final_state IS DISTINCT FROM NEW.final_state)
    EXECUTE FUNCTION events_changed();

CREATE FUNCTION events_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gethook_tally(OLD.account_id, OLD.received_at, OLD.direction, OLD.status,
                          OLD.final_state, -1);
    RETURN NULL;
END $$;
CREATE TRIGGER events_deleted AFTER DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_deleted();

CREATE FUNCTION attempts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gethook_count('delivery_attempts', 1);
    RETURN NULL;
END $$;
CREATE TRIGGER attempts_inserted AFTER INSERT ON attempts
    FOR EACH ROW EXECUTE FUNCTION attempts_inserted();

CREATE FUNCTION rejected_request_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (account_id, kind, subject_id, source_id, direction, created_at)
    VALUES (NEW.account_id, 'request.rejected', NEW.id, NEW.source_id, 'inbound',
            NEW.received_at);
    RETURN NULL;
END $$;
CREATE TRIGGER rejected_request_inserted AFTER INSERT ON rejected_requests
    FOR EACH ROW EXECUTE FUNCTION rejected_request_inserted();

CREATE FUNCTION account_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM changes WHERE account_id = OLD.id;
    RETURN NULL;
END $$;
CREATE TRIGGER account_deleted AFTER DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION account_deleted();

-- Cross-process messages (§6.3, §6.4): sent at commit, merged within a transaction.
CREATE FUNCTION gethook_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], TG_ARGV[1]);
    RETURN NULL;
END $$;
CREATE TRIGGER deliveries_wake AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION gethook_notify('gethook_work', '');
CREATE TRIGGER changes_wake AFTER INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION gethook_notify('gethook_changes', '');
CREATE TRIGGER sources_changed AFTER INSERT OR UPDATE OR DELETE ON sources
    FOR EACH STATEMENT EXECUTE FUNCTION gethook_notify('gethook_cache', 'sources');
CREATE TRIGGER routes_changed AFTER INSERT OR UPDATE OR DELETE ON routes
    FOR EACH STATEMENT EXECUTE FUNCTION gethook_notify('gethook_cache', 'routes');
CREATE TRIGGER destinations_changed AFTER INSERT OR UPDATE OR DELETE ON destinations
    FOR EACH STATEMENT EXECUTE FUNCTION gethook_notify('gethook_cache', 'destinations');
CREATE TRIGGER custom_domains_changed AFTER INSERT OR UPDATE OR DELETE ON custom_domains
    FOR EACH STATEMENT EXECUTE FUNCTION gethook_notify('gethook_cache', 'custom_domains');
