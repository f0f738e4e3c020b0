//! The store's error type.

/// Why the store failed. The cause is kept as the source, never formatted
/// into the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL names no database this crate can open.
    #[error("unsupported database URL `{url}`: expected `sqlite://PATH`, `sqlite::memory:`, a path, or `postgres://…`")]
    UnsupportedUrl {
        /// The URL, without its password.
        url: String,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open the database at `{url}`")]
    Open {
        /// The database URL (or SQLite path), without its password.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A query failed.
    #[error("the database failed while {action}")]
    Query {
        /// What the store was doing.
        action: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A count does not fit in the database's signed 64-bit integers.
    #[error("`{field}` is too large to store: `{value}`")]
    TooLarge {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
}

impl Error {
    /// A failed query, for `map_err`.
    pub(crate) fn query(action: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Query { action, source: Box::new(source) }
    }

    /// A database that could not be opened, for `map_err`; `url` must
    /// already be redacted.
    pub(crate) fn open<E>(url: &str) -> impl FnOnce(E) -> Error + '_
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        move |source| Error::Open { url: url.to_owned(), source: source.into() }
    }
}
