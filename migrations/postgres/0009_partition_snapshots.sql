-- The latest snapshot of each event-stream partition's engine state (DESIGN.md §6): the state
-- after every event up to `sequence` was applied, in the engine's snapshot format `format`
-- (header, checksum, payload). One row per partition: a newer snapshot replaces the older one
-- in the same statement that records its sequence, so state and sequence never disagree.
CREATE TABLE partition_snapshots (
    partition_id BIGINT NOT NULL PRIMARY KEY,
    sequence     BIGINT NOT NULL,
    format       BIGINT NOT NULL,
    state        BYTEA NOT NULL,
    taken_at     BIGINT NOT NULL
);
