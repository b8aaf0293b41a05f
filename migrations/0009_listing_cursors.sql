-- Keyset pagination of the listings (GET /v1/systems, /v1/runs, /v1/keys and a system's decisions): each page is a
-- range scan of an index in the listing's order, from the cursor's position, never a sort of the whole table nor
-- an OFFSET. The runs indexes replace the two of 0002 they extend (a prefix of each serves what those did).
CREATE INDEX systems_by_update ON systems (updated_at, name);
CREATE INDEX runs_by_time_id ON runs (created_at, run_id);
CREATE INDEX runs_by_system_time_id ON runs (system, created_at, run_id);
DROP INDEX runs_by_time;
DROP INDEX runs_by_system;
CREATE INDEX api_keys_by_time ON api_keys (created_at, id);
-- A user's decisions, newest first, without reading the rest of the system's (decisions_by_system_time serves the
-- listing of them all; decisions_by_user needs the agent type first). It serves forgetting a user too, so 0008's
-- decisions_by_system_user, its prefix, goes.
CREATE INDEX decisions_by_system_user_time ON decisions (system, user_id, created_at);
DROP INDEX decisions_by_system_user;
