-- How far each event-stream partition has been handled: events up to `sequence` were counted,
-- dead-lettered and applied by some run, so a restart does not count or dead-letter them again.
CREATE TABLE partition_progress (
    partition_id BIGINT NOT NULL PRIMARY KEY,
    sequence     BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
