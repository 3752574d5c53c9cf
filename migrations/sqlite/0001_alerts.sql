-- Alerts (DESIGN.md §4): one row per dedupe key (tenant, ticket, goal, level, threshold), holding
-- the latest state. Rows only move forward: firing -> acknowledged -> resolved | retracted.
-- Instants are milliseconds since the Unix epoch (UTC), as INTEGER.
CREATE TABLE alerts (
    alert_id       TEXT    NOT NULL PRIMARY KEY,
    dedupe_key     TEXT    NOT NULL UNIQUE,
    tenant_id      INTEGER NOT NULL,
    ticket_id      TEXT    NOT NULL,
    goal           TEXT    NOT NULL CHECK (goal IN ('response', 'resolution')),
    level          TEXT    NOT NULL CHECK (level IN ('warning', 'breach')),
    threshold      REAL    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved', 'retracted')),
    target_ms      INTEGER NOT NULL,
    elapsed_ms     INTEGER NOT NULL,
    fired_at       INTEGER NOT NULL,
    deadline       INTEGER NOT NULL,
    priority       TEXT    NOT NULL,
    service_type   TEXT    NOT NULL,
    policy_version INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    acked_by       TEXT,
    acked_at       INTEGER
);

CREATE INDEX alerts_by_tenant_state ON alerts (tenant_id, state, fired_at DESC);
CREATE INDEX alerts_by_state ON alerts (state, fired_at DESC);
