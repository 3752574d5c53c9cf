-- Appending a batch of configuration changes in one statement: the table lock that serializes
-- writers (so `seq` order is visibility order) is taken and released inside the statement's own
-- transaction, with no client round trip while it is held. Each change is written only when its
-- key is at the version before it; otherwise nothing is written and the error (SQLSTATE VGL01)
-- says `<current version> <key>`. Returns `seq` and `old_value` of each change, in input order.
CREATE FUNCTION config_append(
    keys            TEXT[],
    versions        BIGINT[],
    ops             TEXT[],
    rolled_back_tos BIGINT[],
    vals            TEXT[],
    tenants         BIGINT[],
    actors          TEXT[],
    roles           TEXT[],
    ips             TEXT[],
    request_ids     TEXT[],
    reasons         TEXT[],
    at              BIGINT
) RETURNS TABLE (out_seq BIGINT, out_old_value TEXT) LANGUAGE plpgsql AS $$
DECLARE
    i            INTEGER;
    prev_version BIGINT;
    prev_value   TEXT;
BEGIN
    LOCK TABLE config_changes IN SHARE ROW EXCLUSIVE MODE;
    FOR i IN 1 .. COALESCE(array_length(keys, 1), 0) LOOP
        SELECT c.version, c.value INTO prev_version, prev_value
            FROM config_changes c
            WHERE c.config_key = keys[i]
            ORDER BY c.version DESC
            LIMIT 1;
        IF COALESCE(prev_version, 0) <> versions[i] - 1 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'VGL01',
                MESSAGE = COALESCE(prev_version, 0)::TEXT || ' ' || keys[i];
        END IF;
        RETURN QUERY
            INSERT INTO config_changes (config_key, version, op, rolled_back_to, value,
                old_value, tenant_id, actor, role, ip, request_id, reason, changed_at)
            VALUES (keys[i], versions[i], ops[i], rolled_back_tos[i], vals[i], prev_value,
                tenants[i], actors[i], roles[i], ips[i], request_ids[i], reasons[i], at)
            RETURNING config_changes.seq, config_changes.old_value;
    END LOOP;
END;
$$;
