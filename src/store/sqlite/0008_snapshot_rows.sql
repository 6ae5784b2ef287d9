-- Snapshots are stored up to a thousand contacts to a row, laid out as
-- store/snapshot_lines.rs says: a million contacts' snapshot is a thousand
-- row writes, not a million, and compressed a fraction of the bytes.
-- `contacts` is TEXT (the lines as they are: the rows moved here from
-- `snapshot_contacts`) or BLOB (lz4 of them, its size first: rows written
-- by the server).
CREATE TABLE snapshot_rows (
    biller_id    INTEGER NOT NULL,
    snapshot_seq INTEGER NOT NULL,
    last_number  TEXT NOT NULL,
    contacts     BLOB NOT NULL,
    PRIMARY KEY (biller_id, snapshot_seq, last_number)
);

-- A row ends at a thousand contacts, or where its text passes 4 MiB.
INSERT INTO snapshot_rows (biller_id, snapshot_seq, last_number, contacts)
SELECT biller_id, snapshot_seq, max(account_number), group_concat(line, char(10) ORDER BY account_number)
FROM (SELECT biller_id, snapshot_seq, account_number, line, by_count,
             (sum(len) OVER (PARTITION BY biller_id, snapshot_seq, by_count ORDER BY account_number) - len)
                 / 4194304 AS by_size
      FROM (SELECT biller_id, snapshot_seq, account_number, line, length(CAST(line AS BLOB)) + 1 AS len,
                   (row_number() OVER (PARTITION BY biller_id, snapshot_seq ORDER BY account_number) - 1)
                       / 1000 AS by_count
            FROM (SELECT biller_id, snapshot_seq, account_number,
                         account_number || char(9) || id || char(9) || version || char(9) || created_at
                             || char(9) || updated_at || char(9) || doc AS line
                  FROM snapshot_contacts)))
GROUP BY biller_id, snapshot_seq, by_count, by_size;

DROP TABLE snapshot_contacts;
