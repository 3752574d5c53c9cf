-- Who resolved an alert by hand (POST /api/v1/alerts/{id}/resolve), and when. Alerts the engine
-- resolves (the goal stopped) leave both empty.
ALTER TABLE alerts ADD COLUMN resolved_by TEXT;
ALTER TABLE alerts ADD COLUMN resolved_at BIGINT;
