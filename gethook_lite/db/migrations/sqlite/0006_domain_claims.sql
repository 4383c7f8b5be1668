-- Custom domains become claims: several accounts may hold a pending claim on one name, and the
-- first to prove it in DNS owns it. Only a verified name is unique, so a claim that is never
-- verified blocks nobody (before, it kept the real owner out with a 409, indefinitely).
--
-- SQLite cannot drop a column's UNIQUE, so the table is rebuilt. Migrations run inside one
-- transaction with foreign keys on (PRAGMA foreign_keys cannot change inside a transaction),
-- where DROP TABLE applies sources.custom_domain_id's ON DELETE SET NULL: the sources' links
-- are saved first and put back once the rebuilt table holds the same ids.
CREATE TEMP TABLE source_domain_links AS
    SELECT id, custom_domain_id FROM sources WHERE custom_domain_id IS NOT NULL;

CREATE TABLE custom_domains_rebuilt (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain              TEXT NOT NULL,       -- unique among verified claims only (index below)
    type                TEXT NOT NULL DEFAULT 'ingest',
    status              TEXT NOT NULL DEFAULT 'pending_verification',
    tls_status          TEXT NOT NULL DEFAULT 'pending',
    verification_token  TEXT NOT NULL,
    created_at          REAL NOT NULL,
    verified_at         REAL
);
INSERT INTO custom_domains_rebuilt
    (id, account_id, domain, type, status, tls_status, verification_token, created_at,
     verified_at)
SELECT id, account_id, domain, type, status, tls_status, verification_token, created_at,
       verified_at
FROM custom_domains;
DROP TABLE custom_domains;
ALTER TABLE custom_domains_rebuilt RENAME TO custom_domains;

UPDATE sources
SET custom_domain_id = (
    SELECT link.custom_domain_id FROM temp.source_domain_links link WHERE link.id = sources.id
)
WHERE id IN (SELECT id FROM temp.source_domain_links);
DROP TABLE temp.source_domain_links;

CREATE INDEX custom_domains_by_account ON custom_domains (account_id, id);
-- One owner per name: the one whose claim was verified.
CREATE UNIQUE INDEX custom_domains_verified_name ON custom_domains (domain)
    WHERE status = 'verified';
-- One claim per account and name.
CREATE UNIQUE INDEX custom_domains_claim ON custom_domains (domain, account_id);
-- Retention finds the pending claims that expired.
CREATE INDEX custom_domains_pending_since ON custom_domains (created_at)
    WHERE status = 'pending_verification';
