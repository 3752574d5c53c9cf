-- The reporting history has a file of its own (migrations/sqlite-reports): its rows were moved
-- there before this runs (`move_history` in src/store/pool.rs).
DROP TABLE report_daily;
DROP TABLE ticket_facts;
