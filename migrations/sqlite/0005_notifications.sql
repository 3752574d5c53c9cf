-- The notification outbox: every message to a person is written here before anything is sent,
-- one row per (alert change, escalation step and round, contact, channel), keyed by a stable id
-- so replays and restarts never add a second copy. Workers send due rows and record the result.
CREATE TABLE notifications (
    notification_id TEXT    NOT NULL PRIMARY KEY,
    alert_id        TEXT    NOT NULL,
    tenant_id       INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('page', 'resolved')),
    step            INTEGER NOT NULL,
    round           INTEGER NOT NULL,
    contact         TEXT    NOT NULL,
    channel         TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    due_at          INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX notifications_due ON notifications (state, due_at);
CREATE INDEX notifications_by_alert ON notifications (alert_id, state);
