-- The host a system's config was last written through (PUT /v1/systems/{system}): the runs its reoptimize
-- schedule starts treat it as the service's own host, which a run may not call (src/target/egress.ts).
ALTER TABLE systems ADD COLUMN written_host TEXT;
