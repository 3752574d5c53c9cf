-- Exchange partners (DESIGN.md §7).
--
-- sla_records: our side, the latest stop of each ticket goal (the SlaRecord as JSON). A record
-- is replaced only by a stop at least as late that differs, so replays change nothing.
CREATE TABLE sla_records (
    record_id  TEXT    NOT NULL PRIMARY KEY,
    tenant_id  BIGINT  NOT NULL,
    stopped_at BIGINT  NOT NULL,
    record     TEXT    NOT NULL
);

CREATE INDEX sla_records_by_stop ON sla_records (stopped_at);

-- The partner outbox: one row per (partner, record). version goes up each time the record must
-- be (re)sent, so a delivery of an older version never marks a newer one delivered. queued_at
-- is the queue order (kept while the row stays pending), due_at when the next attempt may go,
-- claimed_until the lease of the worker sending it.
CREATE TABLE partner_outbox (
    partner_id    TEXT    NOT NULL,
    record_id     TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'parked')),
    queued_at     BIGINT  NOT NULL,
    due_at        BIGINT  NOT NULL,
    attempts      BIGINT  NOT NULL DEFAULT 0,
    claimed_until BIGINT ,
    last_status   BIGINT ,
    last_error    TEXT,
    delivered_at  BIGINT ,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (partner_id, record_id)
);

-- Claims walk a partner's pending rows in queue order straight from this index.
CREATE INDEX partner_outbox_claim ON partner_outbox (partner_id, state, queued_at, record_id);
-- The next due attempt of a partner (outbox statistics).
CREATE INDEX partner_outbox_due ON partner_outbox (partner_id, state, due_at);

-- Reconciliation runs: one per partner, day and attempt to reconcile it; the counts are the
-- report. A run stays running (and resumable) until it finishes.
CREATE TABLE reconciliation_runs (
    run_id             TEXT    NOT NULL PRIMARY KEY,
    partner_id         TEXT    NOT NULL,
    day                TEXT    NOT NULL,
    trigger            TEXT    NOT NULL CHECK (trigger IN ('nightly', 'manual')),
    state              TEXT    NOT NULL CHECK (state IN ('running', 'finished')),
    started_at         BIGINT  NOT NULL,
    finished_at        BIGINT ,
    pages_done         BIGINT  NOT NULL DEFAULT 0,
    partner_records    BIGINT  NOT NULL DEFAULT 0,
    our_records        BIGINT  NOT NULL DEFAULT 0,
    matched            BIGINT  NOT NULL DEFAULT 0,
    missing_at_partner BIGINT  NOT NULL DEFAULT 0,
    missing_at_ours    BIGINT  NOT NULL DEFAULT 0,
    mismatched         BIGINT  NOT NULL DEFAULT 0,
    repaired           BIGINT  NOT NULL DEFAULT 0,
    diffs_kept         BIGINT  NOT NULL DEFAULT 0,
    error              TEXT
);

CREATE INDEX reconciliation_runs_by_day ON reconciliation_runs (partner_id, day, started_at);
-- At most one running run per partner and day: a second opener resumes it.
CREATE UNIQUE INDEX reconciliation_runs_running ON reconciliation_runs (partner_id, day)
    WHERE state = 'running';

-- The first diffs of a run (masked JSON), in the order they were found.
CREATE TABLE reconciliation_diffs (
    run_id    TEXT    NOT NULL,
    seq       BIGINT  NOT NULL,
    record_id TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('missing_at_partner', 'missing_at_ours', 'mismatched')),
    ours      TEXT,
    theirs    TEXT,
    PRIMARY KEY (run_id, seq)
);

-- The partner pages a running run has counted (what the partner had on each), so a resumed run
-- continues after the last one and a retried page is not counted twice. Deleted when the run
-- finishes.
CREATE TABLE reconciliation_pages (
    run_id TEXT    NOT NULL,
    page   BIGINT  NOT NULL,
    seen   TEXT    NOT NULL,
    PRIMARY KEY (run_id, page)
);

-- Named leases shared by the instances (e.g. who runs a partner's reconciliation).
CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
);
