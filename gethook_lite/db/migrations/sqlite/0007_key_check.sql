-- Facts about the instance itself, one row per name. "key_check" holds a known value encrypted
-- with the instance's encryption key: start-up refuses a key that cannot open it (a database
-- restored without its secret.key) instead of serving 500s on every signed ingest.
CREATE TABLE instance_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
