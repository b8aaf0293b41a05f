-- Each decision's arms as they were when it was made, for offline evaluation (POST /v1/systems/{system}/evaluate):
-- JSON rows [arm_id, alpha, beta, sampled value, pulls], the ArmsObject's own compact form. NULL for decisions logged before.
ALTER TABLE decisions ADD COLUMN arms_snapshot TEXT;
