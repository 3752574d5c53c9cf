-- Delivery of the outbox. A grouped message carries several rows: they share message_id (the
-- id of the group's first row, which is also the idempotency key the provider sees and what
-- the message's ack link names). A row written because another channel was down names the row
-- it stands in for in fallback_of.
ALTER TABLE notifications ADD COLUMN message_id TEXT;
ALTER TABLE notifications ADD COLUMN fallback_of TEXT;

CREATE INDEX notifications_by_message ON notifications (message_id);
CREATE INDEX notifications_by_state_updated ON notifications (state, updated_at);
CREATE INDEX alerts_by_ticket ON alerts (tenant_id, ticket_id);

-- Claims take due rows in (due_at, notification_id) order straight from the index, even when
-- many rows share one due_at (a silence ending, a group held by group_interval).
DROP INDEX notifications_due;
CREATE INDEX notifications_claim ON notifications (state, due_at, notification_id);
