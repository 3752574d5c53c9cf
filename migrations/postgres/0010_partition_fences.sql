-- Who may write each event-stream partition's alerts, progress and snapshots (DESIGN.md §6):
-- `fence` is the revision of the lease (NATS KV) under which its owner took the partition.
-- A new owner raises it when it takes over; a write that carries a lower one (an owner that
-- lost its lease but has not noticed yet) is refused.
CREATE TABLE partition_fences (
    partition_id BIGINT NOT NULL PRIMARY KEY,
    fence        BIGINT NOT NULL,
    holder       TEXT NOT NULL,
    claimed_at   BIGINT NOT NULL
);
