-- Each live worker holds a small slot number; process gauges are labelled by
-- slot, so recycled workers reuse series instead of adding four per pid.
-- A worker that exits cleanly says so, and leaves the live list at once.
ALTER TABLE processes ADD COLUMN slot INTEGER;
ALTER TABLE processes ADD COLUMN exited REAL;
