-- SLA reports (issue: reports). What the engine's metrics counted of each tenant's tickets,
-- kept for `[reports] retention` (default 400 days) after the stream has let the events go.
--
-- ticket_facts: one row per ticket created, reopened, rated, or goal stopped (kind `response`
-- or `resolution`, with its outcome, target and SLA time), at the instant the live metrics
-- count it (`at`, epoch milliseconds), under the ticket's priority and service type then, and
-- the assignee (`engineer`, '' for none) when a goal stopped. A row is written once: replays
-- and restarts find it there, change nothing, and add nothing to the rollups.
CREATE TABLE ticket_facts (
    tenant_id    INTEGER  NOT NULL,
    ticket_id    TEXT     NOT NULL,
    kind         TEXT     NOT NULL CHECK (kind IN ('created', 'reopened', 'rated', 'response', 'resolution')),
    at           INTEGER  NOT NULL,
    priority     TEXT     NOT NULL,
    service_type TEXT     NOT NULL,
    engineer     TEXT     NOT NULL DEFAULT '',
    outcome      TEXT     CHECK (outcome IN ('met', 'breached', 'cancelled')),
    target_ms    INTEGER,
    elapsed_ms   INTEGER,
    stopped_at   INTEGER,
    rating_centi INTEGER,
    PRIMARY KEY (tenant_id, ticket_id, kind, at)
);

CREATE INDEX ticket_facts_by_time ON ticket_facts (tenant_id, at);
CREATE INDEX ticket_facts_by_age ON ticket_facts (at);

-- report_daily: the facts summed per tenant and local day (`day`: days since 1970-01-01 of the
-- date in the tenant's report zone when the fact was written), per priority and service type
-- (dimension 'group', engineer '') and per engineer (dimension 'engineer', priority and
-- service type ''). Goal columns per goal: met, breached, cancelled, the sum of SLA times of
-- the met and breached ones, and their histogram (h0..h11: the live metrics' buckets, upper
-- bounds 1, 5, 15, 30, 60, 120, 240, 480, 1440, 4320, 10080 minutes and beyond). stars_N counts
-- ratings that round to N.
CREATE TABLE report_daily (
    tenant_id          INTEGER NOT NULL,
    day                INTEGER NOT NULL,
    dimension          TEXT    NOT NULL CHECK (dimension IN ('group', 'engineer')),
    priority           TEXT    NOT NULL,
    service_type       TEXT    NOT NULL,
    engineer           TEXT    NOT NULL,
    created            INTEGER NOT NULL DEFAULT 0,
    reopened           INTEGER NOT NULL DEFAULT 0,
    response_met       INTEGER NOT NULL DEFAULT 0,
    response_breached  INTEGER NOT NULL DEFAULT 0,
    response_cancelled INTEGER NOT NULL DEFAULT 0,
    response_sum_ms    INTEGER NOT NULL DEFAULT 0,
    response_h0        INTEGER NOT NULL DEFAULT 0,
    response_h1        INTEGER NOT NULL DEFAULT 0,
    response_h2        INTEGER NOT NULL DEFAULT 0,
    response_h3        INTEGER NOT NULL DEFAULT 0,
    response_h4        INTEGER NOT NULL DEFAULT 0,
    response_h5        INTEGER NOT NULL DEFAULT 0,
    response_h6        INTEGER NOT NULL DEFAULT 0,
    response_h7        INTEGER NOT NULL DEFAULT 0,
    response_h8        INTEGER NOT NULL DEFAULT 0,
    response_h9        INTEGER NOT NULL DEFAULT 0,
    response_h10       INTEGER NOT NULL DEFAULT 0,
    response_h11       INTEGER NOT NULL DEFAULT 0,
    resolution_met     INTEGER NOT NULL DEFAULT 0,
    resolution_breached INTEGER NOT NULL DEFAULT 0,
    resolution_cancelled INTEGER NOT NULL DEFAULT 0,
    resolution_sum_ms  INTEGER NOT NULL DEFAULT 0,
    resolution_h0      INTEGER NOT NULL DEFAULT 0,
    resolution_h1      INTEGER NOT NULL DEFAULT 0,
    resolution_h2      INTEGER NOT NULL DEFAULT 0,
    resolution_h3      INTEGER NOT NULL DEFAULT 0,
    resolution_h4      INTEGER NOT NULL DEFAULT 0,
    resolution_h5      INTEGER NOT NULL DEFAULT 0,
    resolution_h6      INTEGER NOT NULL DEFAULT 0,
    resolution_h7      INTEGER NOT NULL DEFAULT 0,
    resolution_h8      INTEGER NOT NULL DEFAULT 0,
    resolution_h9      INTEGER NOT NULL DEFAULT 0,
    resolution_h10     INTEGER NOT NULL DEFAULT 0,
    resolution_h11     INTEGER NOT NULL DEFAULT 0,
    rating_n           INTEGER NOT NULL DEFAULT 0,
    rating_centi       INTEGER NOT NULL DEFAULT 0,
    stars_1            INTEGER NOT NULL DEFAULT 0,
    stars_2            INTEGER NOT NULL DEFAULT 0,
    stars_3            INTEGER NOT NULL DEFAULT 0,
    stars_4            INTEGER NOT NULL DEFAULT 0,
    stars_5            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, dimension, day, priority, service_type, engineer)
);

-- Warnings and breach alerts fired in a period, counted by the report.
CREATE INDEX alerts_by_tenant_fired ON alerts (tenant_id, fired_at);

-- Report jobs (POST /api/v1/client/reports/generate): queued, then claimed by one instance's
-- worker for a lease it renews while it runs (`claimed_until`); a job whose lease ran out (its
-- instance stopped) is claimed again and starts over. `percent` is its progress; a finished
-- job names its file. At most `[reports] max_queued` jobs are queued or running at once.
CREATE TABLE report_jobs (
    task_id       TEXT    NOT NULL PRIMARY KEY,
    tenant_id     INTEGER NOT NULL,
    requested_by  TEXT    NOT NULL,
    format        TEXT    NOT NULL CHECK (format IN ('json', 'csv', 'xlsx', 'pdf')),
    period_from   INTEGER NOT NULL,
    period_to     INTEGER NOT NULL,
    language      TEXT    NOT NULL,
    timezone      TEXT    NOT NULL,
    breakdowns    TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    percent       INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_by    TEXT,
    claimed_until INTEGER,
    file_name     TEXT,
    size_bytes    INTEGER,
    records       INTEGER,
    error         TEXT,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    expires_at    INTEGER,
    schedule_id   TEXT,
    deliver_to    TEXT,
    summary       TEXT
);

CREATE INDEX report_jobs_by_state ON report_jobs (state, created_at);

-- The files of finished jobs, in the store so that any instance serves any download; deleted
-- with their job when they expire (`[reports] file_retention`).
CREATE TABLE report_files (
    file_name  TEXT    NOT NULL PRIMARY KEY,
    task_id    TEXT    NOT NULL,
    tenant_id  INTEGER NOT NULL,
    content    BLOB  NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Scheduled reports ([[report.schedules]] of a tenant file): one row per run, written with its
-- job in one transaction, so each period is queued once whatever the instances and restarts.
CREATE TABLE report_schedule_runs (
    tenant_id   INTEGER NOT NULL,
    schedule_id TEXT    NOT NULL,
    period_from INTEGER NOT NULL,
    task_id     TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    queued_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id, period_from)
);

-- The emails of scheduled reports: one per (job, recipient), written when the job finishes
-- and sent by any instance under a lease (`claimed_until`), retried with back-off until
-- `[notify.delivery] give_up_after`; the Message-ID is the delivery id, so a resend after a
-- lost reply is a duplicate the receiver drops.
CREATE TABLE report_deliveries (
    delivery_id   TEXT    NOT NULL PRIMARY KEY,
    task_id       TEXT    NOT NULL,
    tenant_id     INTEGER NOT NULL,
    recipient     TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    due_at        INTEGER NOT NULL,
    scheduled_at  INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_until INTEGER,
    last_error    TEXT,
    sent_at       INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE INDEX report_deliveries_due ON report_deliveries (state, due_at);
