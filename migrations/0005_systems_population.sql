-- Pooled priors: each system's population statistics per (agent type, arm), aggregated from the decision log by
-- the cron (workers/db/population.ts) and cached with the system's config. NULL until the first refresh.
ALTER TABLE systems ADD COLUMN population TEXT;
