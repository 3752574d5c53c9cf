-- The configuration center's audit trail: one row per change of a runtime configuration key (a
-- set, a delete, or a rollback to an earlier version), kept for years. Each key's versions count
-- 1, 2, 3 … (deletes count too); `seq` orders every change across keys and is the audit cursor.
-- `value` is the new value as JSON text exactly as the caller wrote it (secret parts already
-- encrypted; NULL for a delete), `old_value` the key's value before the change (NULL when it had
-- none or was deleted), `changed_at` epoch milliseconds. Rows are never updated or deleted: the
-- triggers below refuse both, so the trail cannot be rewritten through the store.
CREATE TABLE config_changes (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    config_key     TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    op             TEXT    NOT NULL CHECK (op IN ('set', 'delete', 'rollback')),
    rolled_back_to INTEGER,
    value          TEXT,
    old_value      TEXT,
    tenant_id      INTEGER,
    actor          TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    ip             TEXT,
    request_id     TEXT,
    reason         TEXT    NOT NULL,
    changed_at     INTEGER NOT NULL,
    UNIQUE (config_key, version),
    CHECK ((op = 'rollback') = (rolled_back_to IS NOT NULL)),
    CHECK ((op = 'delete') = (value IS NULL))
);

CREATE INDEX config_changes_by_tenant ON config_changes (tenant_id, seq);
CREATE INDEX config_changes_by_time ON config_changes (changed_at);

CREATE TRIGGER config_changes_no_update BEFORE UPDATE ON config_changes
BEGIN
    SELECT RAISE(ABORT, 'config_changes is append-only: rows cannot be updated');
END;

CREATE TRIGGER config_changes_no_delete BEFORE DELETE ON config_changes
BEGIN
    SELECT RAISE(ABORT, 'config_changes is append-only: rows cannot be deleted');
END;
