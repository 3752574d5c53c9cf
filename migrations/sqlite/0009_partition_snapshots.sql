-- The latest snapshot of each event-stream partition's engine state (DESIGN.md §6): the state
-- after every event up to `sequence` was applied, in the engine's snapshot format `format`
-- (header, checksum, payload). One row per partition: a newer snapshot replaces the older one
-- in the same statement that records its sequence, so state and sequence never disagree.
CREATE TABLE partition_snapshots (
    partition_id INTEGER NOT NULL PRIMARY KEY,
    sequence     INTEGER NOT NULL,
    format       INTEGER NOT NULL,
    state        BLOB NOT NULL,
    taken_at     INTEGER NOT NULL
);
