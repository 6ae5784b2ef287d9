-- Aliases: the ids dialects' clients know contacts by. A row is never
-- deleted (not even with its contact), so an alias is never reused; each
-- kind's are made from the biller's own count.
CREATE TABLE contact_aliases (
    biller_id  BIGINT NOT NULL REFERENCES billers (id),
    dialect    TEXT COLLATE "C" NOT NULL,
    alias      TEXT COLLATE "C" NOT NULL,
    contact_id TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (biller_id, dialect, alias)
);
CREATE UNIQUE INDEX contact_aliases_contact ON contact_aliases (biller_id, dialect, contact_id);

CREATE TABLE alias_counters (
    biller_id BIGINT NOT NULL REFERENCES billers (id),
    dialect   TEXT NOT NULL,
    next      BIGINT NOT NULL,
    PRIMARY KEY (biller_id, dialect)
);

-- Where a key may be used from (addresses and CIDR ranges, space-separated),
-- for dialects whose clients name their endpoint IP (Instantpay).
ALTER TABLE api_keys ADD COLUMN allow_ips TEXT;
