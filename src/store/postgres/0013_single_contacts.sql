-- One contact at a time: CRNs in a column of their own (unique per biller,
-- kept out of the document, so a write that does not name one keeps it),
-- the job that created a contact, the tag catalogue, holds, every change's
-- history, and every settings version a biller had.
ALTER TABLE contacts ADD COLUMN crn TEXT COLLATE "C", ADD COLUMN job_id TEXT;
CREATE UNIQUE INDEX contacts_crn ON contacts (biller_id, crn) WHERE crn IS NOT NULL;

-- What list filters look contacts up by, worked out as they are written
-- (email case-folded; phones, as sent and E.164, and tags as |-separated
-- tokens). Indexes only where a value is, so bulk loads without pay nothing.
ALTER TABLE contacts ADD COLUMN email_key TEXT COLLATE "C", ADD COLUMN reference_key TEXT COLLATE "C",
    ADD COLUMN external_key TEXT COLLATE "C", ADD COLUMN phone_keys TEXT, ADD COLUMN tag_keys TEXT;
CREATE INDEX contacts_email ON contacts (biller_id, email_key) WHERE email_key IS NOT NULL;
CREATE INDEX contacts_reference ON contacts (biller_id, reference_key) WHERE reference_key IS NOT NULL;
CREATE INDEX contacts_external ON contacts (biller_id, external_key) WHERE external_key IS NOT NULL;
CREATE INDEX contacts_name ON contacts (biller_id, name_folded COLLATE "C");

-- Room on each page for a changed row's new version beside the old: an
-- update that changes no indexed column (a note, an address) is then a
-- heap-only tuple, written without touching the table's seven indexes.
ALTER TABLE contacts SET (fillfactor = 85);

-- CRNs made from a count: the next one to issue.
ALTER TABLE billers ADD COLUMN crn_sequence BIGINT NOT NULL DEFAULT 1;

CREATE TABLE tags (
    biller_id  BIGINT NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (biller_id, id)
);
CREATE UNIQUE INDEX tags_name ON tags (biller_id, name);

CREATE TABLE holds (
    biller_id  BIGINT NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    contact_id TEXT COLLATE "C" NOT NULL,
    kind       TEXT NOT NULL,
    reference  TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (biller_id, id)
);
CREATE INDEX holds_contact ON holds (biller_id, contact_id);

-- One row per change: the contact as it was before (the one after is the
-- next row's before, or the contact itself). A job's new contacts get no
-- row: their creation is the contact's job_id and created_at.
CREATE TABLE contact_history (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    biller_id  BIGINT NOT NULL,
    contact_id TEXT COLLATE "C" NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    key_id     TEXT,
    source     TEXT NOT NULL,
    action     TEXT NOT NULL,
    version    BIGINT NOT NULL,
    account_number TEXT,
    crn        TEXT,
    before     TEXT,
    detail     TEXT,
    PRIMARY KEY (biller_id, contact_id, seq)
);
DO $$
BEGIN
    EXECUTE 'ALTER TABLE contact_history ALTER COLUMN before SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    NULL;
END $$;
CREATE INDEX contact_history_at ON contact_history (at);

CREATE TABLE settings_versions (
    biller_id  BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    settings   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    key_id     TEXT,
    PRIMARY KEY (biller_id, version)
);
INSERT INTO settings_versions (biller_id, version, settings, created_at)
    SELECT id, settings_version, settings, created_at FROM billers;

-- A job remembers who sent it, what it may do to held contacts, and how its
-- records are written (native JSON, or a restore's snapshot lines).
ALTER TABLE jobs ADD COLUMN key_id TEXT, ADD COLUMN source TEXT, ADD COLUMN force_holds BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN format TEXT;

-- Staging carries a record's CRN and search keys beside its document.
ALTER TABLE job_rows ADD COLUMN crn TEXT, ADD COLUMN email_key TEXT, ADD COLUMN reference_key TEXT,
    ADD COLUMN external_key TEXT, ADD COLUMN phone_keys TEXT, ADD COLUMN tag_keys TEXT;
