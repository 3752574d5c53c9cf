-- The configuration center's audit trail: one row per change of a runtime configuration key (a
-- set, a delete, or a rollback to an earlier version), kept for years. Each key's versions count
-- 1, 2, 3 … (deletes count too); `seq` orders every change across keys and is the audit cursor.
-- `value` is the new value as JSON text exactly as the caller wrote it (secret parts already
-- encrypted; NULL for a delete), `old_value` the key's value before the change (NULL when it had
-- none or was deleted), `changed_at` epoch milliseconds. Rows are never updated, deleted or
-- truncated: the triggers below refuse all three, so the trail cannot be rewritten through the
-- store.
CREATE TABLE config_changes (
    seq            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    config_key     TEXT    NOT NULL,
    version        BIGINT  NOT NULL CHECK (version >= 1),
    op             TEXT    NOT NULL CHECK (op IN ('set', 'delete', 'rollback')),
    rolled_back_to BIGINT,
    value          TEXT,
    old_value      TEXT,
    tenant_id      BIGINT,
    actor          TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    ip             TEXT,
    request_id     TEXT,
    reason         TEXT    NOT NULL,
    changed_at     BIGINT  NOT NULL,
    UNIQUE (config_key, version),
    CHECK ((op = 'rollback') = (rolled_back_to IS NOT NULL)),
    CHECK ((op = 'delete') = (value IS NULL))
);

CREATE INDEX config_changes_by_tenant ON config_changes (tenant_id, seq);
CREATE INDEX config_changes_by_time ON config_changes (changed_at);

CREATE FUNCTION config_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'config_changes is append-only: % refused', TG_OP;
END;
$$;

CREATE TRIGGER config_changes_no_update_or_delete
    BEFORE UPDATE OR DELETE ON config_changes
    FOR EACH ROW EXECUTE FUNCTION config_changes_append_only();

CREATE TRIGGER config_changes_no_truncate
    BEFORE TRUNCATE ON config_changes
    FOR EACH STATEMENT EXECUTE FUNCTION config_changes_append_only();
