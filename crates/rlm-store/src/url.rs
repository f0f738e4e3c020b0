//! Database URLs: which backend a URL names, and how to show one without its
//! password.

use std::path::PathBuf;

use crate::{Error, Result};

/// What a database URL names.
#[derive(Debug, PartialEq)]
pub(crate) enum Target {
    /// An SQLite database file.
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database.
    SqliteMemory,
    /// A PostgreSQL server; the URL is handed to sqlx as it is.
    Postgres,
}

impl Target {
    /// Reads a URL: `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`,
    /// `:memory:`, `postgres://…`, `postgresql://…`, or a plain path. Any
    /// other `scheme://` is refused rather than taken for a directory name.
    pub(crate) fn parse(url: &str) -> Result<Target> {
        if strip_prefix_ignore_case(url, "postgres://").is_some()
            || strip_prefix_ignore_case(url, "postgresql://").is_some()
        {
            return Ok(Target::Postgres);
        }
        let path = match strip_prefix_ignore_case(url, "sqlite://") {
            Some(path) => path,
            None => match strip_prefix_ignore_case(url, "sqlite:") {
                Some(path) => path,
                None if url.contains("://") => return Err(Error::UnsupportedUrl { url: redact_url(url) }),
                None => url,
            },
        };
        match path {
            ":memory:" => Ok(Target::SqliteMemory),
            "" => Err(Error::UnsupportedUrl { url: redact_url(url) }),
            path => Ok(Target::SqliteFile(PathBuf::from(path))),
        }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// The URL with any password replaced by `****`: the one in the user
/// information (`postgres://user:****@host/db`) and any query parameter whose
/// name contains `password` (`?password=****`). Use it wherever a URL is
/// shown or logged.
///
/// ```
/// assert_eq!(
///     rlm_store::redact_url("postgres://rlm:hunter2@db:5432/rlm?sslpassword=x&sslmode=require"),
///     "postgres://rlm:****@db:5432/rlm?sslpassword=****&sslmode=require",
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let (before_query, query) = match rest.find(['?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    // The last `@` before the query ends the user information: a password
    // that is not percent-encoded may hold `@` or `/` itself, and must not
    // leak a part of it.
    match before_query.rfind('@') {
        Some(at) => {
            let (userinfo, host_and_path) = before_query.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":****");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(host_and_path);
        }
        None => out.push_str(before_query),
    }
    if let Some(params) = query.strip_prefix('?') {
        out.push('?');
        for (i, param) in params.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match param.split_once('=') {
                Some((name, _value)) if name.to_ascii_lowercase().contains("password") => {
                    out.push_str(name);
                    out.push_str("=****");
                }
                _ => out.push_str(param),
            }
        }
    } else {
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let file = |p: &str| Target::SqliteFile(PathBuf::from(p));
        assert_eq!(Target::parse("sqlite:///var/lib/rlm/store.db").unwrap(), file("/var/lib/rlm/store.db"));
        assert_eq!(Target::parse("sqlite://store.db").unwrap(), file("store.db"));
        assert_eq!(Target::parse("SQLite:store.db").unwrap(), file("store.db"));
        assert_eq!(Target::parse("data/store.db").unwrap(), file("data/store.db"));
        assert_eq!(Target::parse("sqlite::memory:").unwrap(), Target::SqliteMemory);
        assert_eq!(Target::parse("sqlite://:memory:").unwrap(), Target::SqliteMemory);
        assert_eq!(Target::parse(":memory:").unwrap(), Target::SqliteMemory);
        assert_eq!(Target::parse("postgres://u@h/db").unwrap(), Target::Postgres);
        assert_eq!(Target::parse("PostgreSQL://u@h/db").unwrap(), Target::Postgres);
    }

    #[test]
    fn unsupported_urls_are_refused_without_their_password() {
        for url in ["mysql://root:hunter2@db/rlm", "sqlite://", ""] {
            let err = Target::parse(url).unwrap_err();
            assert!(matches!(err, Error::UnsupportedUrl { .. }), "{url}: {err:?}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn redaction() {
        let cases = [
            ("postgres://rlm:hunter2@db/rlm", "postgres://rlm:****@db/rlm"),
            ("postgres://rlm@db/rlm", "postgres://rlm@db/rlm"),
            ("postgres://db/rlm?password=hunter2", "postgres://db/rlm?password=****"),
            ("postgres://rlm:hun@ter/2@db:5432/rlm?sslmode=disable", "postgres://rlm:****@db:5432/rlm?sslmode=disable"),
            ("postgres://rlm:hunter2@db/rlm#frag", "postgres://rlm:****@db/rlm#frag"),
            ("sqlite:///tmp/a.db", "sqlite:///tmp/a.db"),
            ("/tmp/a@b:c.db", "/tmp/a@b:c.db"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }
}
