-- Bulk import jobs (CLI, dashboard, SES CreateImportJob). Progress is updated in the
-- same transaction as each applied batch, so it is exact after a crash.
CREATE TABLE import_jobs (
    id                  BIGSERIAL PRIMARY KEY,
    job_id              TEXT    NOT NULL UNIQUE,
    list_name           TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    format              TEXT    NOT NULL,
    source              TEXT    NOT NULL,
    source_size         BIGINT  NOT NULL DEFAULT 0,
    override_opt_outs   BOOLEAN NOT NULL DEFAULT FALSE,
    status              TEXT    NOT NULL,
    lines_done          BIGINT  NOT NULL DEFAULT 0,
    created             BIGINT  NOT NULL DEFAULT 0,
    updated             BIGINT  NOT NULL DEFAULT 0,
    unchanged           BIGINT  NOT NULL DEFAULT 0,
    deleted             BIGINT  NOT NULL DEFAULT 0,
    absent              BIGINT  NOT NULL DEFAULT 0,
    opt_outs_kept       BIGINT  NOT NULL DEFAULT 0,
    opt_outs_overridden BIGINT  NOT NULL DEFAULT 0,
    failed              BIGINT  NOT NULL DEFAULT 0,
    error               TEXT,
    created_at          BIGINT  NOT NULL,
    completed_at        BIGINT,
    -- Set when a process claims the job and with every batch it commits: a job whose
    -- heartbeat is recent is being run, and no second process may claim it.
    heartbeat_at        BIGINT,
    -- host:pid of the process that claimed it; a job whose owner died on this host
    -- may be taken over at once.
    claimed_by          TEXT
);
CREATE INDEX import_jobs_resume ON import_jobs (list_name, status);
