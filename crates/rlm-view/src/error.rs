//! What can go wrong when rendering a log or serving its page.

use std::io;
use std::net::SocketAddr;

/// Why a log could not be rendered, or its page not served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log has no lines (or only blank ones).
    #[error("the log is empty")]
    EmptyLog,
    /// A line of the log is not valid JSON.
    #[error("line {line} of the log is not valid JSON")]
    Json {
        /// The line's number, counting from 1.
        line: usize,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A line of the log is JSON but not an object, so the file is not a trajectory log.
    #[error("line {line} of the log is not a JSON object")]
    NotAnObject {
        /// The line's number, counting from 1.
        line: usize,
    },
    /// [`serve`](crate::serve) was asked for an address other people could reach.
    #[error("refusing to serve on `{addr}`: not a loopback address")]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The server could not listen on its address.
    #[error("could not listen on `{addr}`")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: io::Error,
    },
    /// The server stopped with an error.
    #[error("the page server failed")]
    Serve(#[source] io::Error),
}
