-- Alerts (DESIGN.md §4): one row per dedupe key (tenant, ticket, goal, level, threshold), holding
-- the latest state. Rows only move forward: firing -> acknowledged -> resolved | retracted.
-- Instants are milliseconds since the Unix epoch (UTC), as BIGINT, the same as in SQLite.
CREATE TABLE alerts (
    alert_id       TEXT             NOT NULL PRIMARY KEY,
    dedupe_key     TEXT             NOT NULL UNIQUE,
    tenant_id      BIGINT           NOT NULL,
    ticket_id      TEXT             NOT NULL,
    goal           TEXT             NOT NULL CHECK (goal IN ('response', 'resolution')),
    level          TEXT             NOT NULL CHECK (level IN ('warning', 'breach')),
    threshold      DOUBLE PRECISION NOT NULL,
    state          TEXT             NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved', 'retracted')),
    target_ms      BIGINT           NOT NULL,
    elapsed_ms     BIGINT           NOT NULL,
    fired_at       BIGINT           NOT NULL,
    deadline       BIGINT           NOT NULL,
    priority       TEXT             NOT NULL,
    service_type   TEXT             NOT NULL,
    policy_version BIGINT           NOT NULL,
    updated_at     BIGINT           NOT NULL,
    acked_by       TEXT,
    acked_at       BIGINT
);

CREATE INDEX alerts_by_tenant_state ON alerts (tenant_id, state, fired_at DESC);
CREATE INDEX alerts_by_state ON alerts (state, fired_at DESC);
