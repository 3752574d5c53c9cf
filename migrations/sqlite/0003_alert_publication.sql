-- The alert outbox: the state of each alert last published on vigil.alerts.<tenant_id>.
-- A row whose state differs from published_state (or has none) still has to be published,
-- so a crash between recording a change and publishing it loses nothing.
ALTER TABLE alerts ADD COLUMN published_state TEXT;
CREATE INDEX alerts_unpublished ON alerts (updated_at) WHERE published_state IS NULL OR published_state <> state;
