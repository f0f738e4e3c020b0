//! rlm-store's integration tests: one suite of behaviours, run against
//! SQLite and against a real PostgreSQL server that the tests start.

/// The behaviours, one generic async function each.
mod suite;

/// The suite against SQLite files, and what only SQLite does.
mod sqlite;

/// The suite against a PostgreSQL server started for the run.
mod postgres;
