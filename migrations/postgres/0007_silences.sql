-- Silences (maintenance windows): while one is in force, notifications of the alerts it matches
-- are held back. An absent matcher matches anything (a NULL tenant_id is a silence of every
-- tenant, which only ops may create); priority and service_type hold JSON arrays of names.
-- Rows are never deleted: expiring a silence sets ends_at to that instant and records who did it,
-- so the history of what was silenced, by whom and why stays for audit.
CREATE TABLE silences (
    silence_id   TEXT    NOT NULL PRIMARY KEY,
    tenant_id    BIGINT,
    priority     TEXT,
    service_type TEXT,
    ticket_id    TEXT,
    starts_at    BIGINT  NOT NULL,
    ends_at      BIGINT  NOT NULL,
    created_by   TEXT    NOT NULL,
    comment      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expired_by   TEXT,
    expired_at   BIGINT
);

CREATE INDEX silences_by_end ON silences (ends_at);
CREATE INDEX silences_by_tenant ON silences (tenant_id, created_at);

-- Keys of the notifier that every instance must share (the key that signs ack links when no
-- environment variable names one). The first instance to start inserts a random key; the others
-- find it there.
CREATE TABLE notify_keys (
    name       TEXT    NOT NULL PRIMARY KEY,
    secret     BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL
);
