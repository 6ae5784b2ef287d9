-- A replace snapshot's contacts, up to a thousand to a row in account-number
-- order, one contact to a line (see snapshots.rs), compressed: a snapshot of
-- a million contacts is a thousand rows to write and later delete, not a
-- million (measured at 1M: taking one 3.5-4.2 s -> 2.0-2.2 s, dropping one
-- 2.3 s -> 0.3 s, 963 MB -> 144 MB on disk). Existing snapshots move over,
-- in rows cut as new ones are (a thousand contacts or 4 MiB). Stop
-- servers of the previous version before starting one of this: their
-- replaces use the table this drops, and fail (nothing applied) after it.
CREATE TABLE snapshot_rows (
    biller_id    BIGINT NOT NULL,
    snapshot_seq BIGINT NOT NULL,
    -- The row's last account number: a page of a download seeks by it.
    last_number  TEXT COLLATE "C" NOT NULL,
    contacts     TEXT NOT NULL,
    PRIMARY KEY (biller_id, snapshot_seq, last_number)
);
DO $$
BEGIN
    EXECUTE 'ALTER TABLE snapshot_rows ALTER COLUMN contacts SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    NULL;
END $$;
-- A replace of a server of the previous version finishes before the move.
LOCK TABLE snapshot_contacts IN ACCESS EXCLUSIVE MODE;
INSERT INTO snapshot_rows (biller_id, snapshot_seq, last_number, contacts)
SELECT biller_id, snapshot_seq, max(account_number), string_agg(line, E'\n' ORDER BY account_number)
FROM (SELECT biller_id, snapshot_seq, account_number, line, i / 1000 AS by_count,
             (sum(octet_length(line)) OVER (PARTITION BY biller_id, snapshot_seq ORDER BY i ROWS UNBOUNDED PRECEDING)
                  - octet_length(line)) / 4194304 AS by_size
      FROM (SELECT biller_id, snapshot_seq, account_number,
                   account_number || E'\t' || id || E'\t' || version
                       || E'\t' || (extract(epoch FROM created_at) * 1000000)::int8
                       || E'\t' || (extract(epoch FROM updated_at) * 1000000)::int8 || E'\t' || doc AS line,
                   row_number() OVER (PARTITION BY biller_id, snapshot_seq ORDER BY account_number) - 1 AS i
            FROM snapshot_contacts) numbered) s
GROUP BY biller_id, snapshot_seq, by_count, by_size;
DROP TABLE snapshot_contacts;
