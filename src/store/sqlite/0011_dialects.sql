-- Aliases: the ids dialects' clients know contacts by. A row is never
-- deleted (not even with its contact), so an alias is never reused; each
-- kind's are made from the biller's own count.
CREATE TABLE contact_aliases (
    biller_id  INTEGER NOT NULL REFERENCES billers (id),
    dialect    TEXT NOT NULL,
    alias      TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (biller_id, dialect, alias)
) WITHOUT ROWID;
CREATE UNIQUE INDEX contact_aliases_contact ON contact_aliases (biller_id, dialect, contact_id);

CREATE TABLE alias_counters (
    biller_id INTEGER NOT NULL REFERENCES billers (id),
    dialect   TEXT NOT NULL,
    next      INTEGER NOT NULL,
    PRIMARY KEY (biller_id, dialect)
) WITHOUT ROWID;

-- Where a key may be used from (addresses and CIDR ranges, space-separated),
-- for dialects whose clients name their endpoint IP (Instantpay).
ALTER TABLE api_keys ADD COLUMN allow_ips TEXT;
