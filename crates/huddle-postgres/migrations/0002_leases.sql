-- Huddle's PostgreSQL schema, version 2: board leases.
--
-- The node holding a board's current epoch, where clients reach it, and
-- until when, by the database's clock (clock_timestamp(); never a node's).
-- A NULL node is a free board (never leased, or released). Acquires and
-- writes lock the board's row (SELECT ... FOR UPDATE) and read the lease
-- there; a renewal is one UPDATE of all of a node's boards.
ALTER TABLE boards
    ADD COLUMN lease_node  text,
    ADD COLUMN lease_url   text,
    ADD COLUMN lease_until timestamptz NOT NULL DEFAULT '-infinity';
CREATE INDEX boards_by_lease_node ON boards (lease_node) WHERE lease_node IS NOT NULL;
