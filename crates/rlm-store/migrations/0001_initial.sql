-- The first schema. Portable between SQLite and PostgreSQL: TEXT, BIGINT and
-- DOUBLE PRECISION only, composite primary keys, no database-specific
-- defaults. Every table is keyed by tenant first, so a tenant's rows are found
-- (and only its rows are found) through the primary key.

-- Usage adds up per tenant, UTC day, model and depth; `record_usage` upserts
-- with `calls = ledger.calls + excluded.calls`, so the row is the running sum.
CREATE TABLE ledger (
    tenant TEXT NOT NULL,
    day TEXT NOT NULL,
    model TEXT NOT NULL,
    depth BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, day, model, depth)
);

CREATE TABLE trajectories (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    jsonl TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE sessions (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    profile TEXT NOT NULL,
    replica TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    queries BIGINT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- `lose_sessions` looks a replica's live sessions up at every start.
CREATE INDEX sessions_by_replica ON sessions (replica, state);

-- `idem_key` rather than `key`, a keyword in SQLite.
CREATE TABLE idempotency_keys (
    tenant TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant, idem_key)
);
