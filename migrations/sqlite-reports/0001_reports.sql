-- The reporting history of an SQLite store, in a file of its own beside the store's
-- (`vigil.db` -> `vigil-reports.db`): SQLite has one writer per file, and the fact writer's
-- transactions would otherwise hold the lock the alert writer and the outboxes wait for. The
-- tables are those of the store's migration 0013 (see it for what each column means), which
-- 0014 drops from the store's file once their rows have moved here.
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
