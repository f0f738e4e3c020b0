//! Sessions: one sandbox and one conversation kept across queries, as `rlms`
//! does with `persistent=True`.
//!
//! Each query of a [`Session`] is a completion of its own (its own budgets,
//! log, events and result), but the REPL keeps its variables, helpers and
//! imports, the model keeps the conversation, later queries may add
//! contexts (`context_1`, ...), and a `history` variable lists the earlier
//! queries and their answers. When the conversation grows past a share of
//! the root model's window, its older turns are summarised. Dropping the
//! session frees its sandbox.

use rlm_core::{Context, HelperSource, JsonText, RequestMeta, VarInfo};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::builder::Rlm;
use crate::completion::Completion;
use crate::config::RunOptions;
use crate::error::{Error, ErrorKind};
use crate::events::EventSink;
use crate::observe::notice;
use crate::request::{RequestParts, finish, prepare};
use crate::run::{self, Conversation};
use crate::usage::Usage;

/// Default share of the root model's window at which a session's
/// conversation is compacted.
pub const DEFAULT_COMPACT_SHARE: f64 = 0.85;

/// Settings of a [`Session`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Tokens all queries of the session may use together. By default, none.
    pub max_tokens: Option<u64>,
    /// Dollars all queries of the session may cost together. By default, none.
    pub max_cost: Option<f64>,
    /// Share of the root model's window (its registry entry's
    /// `context_chars`) past which older turns are summarised. By default,
    /// [`DEFAULT_COMPACT_SHARE`].
    pub compact_share: f64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { max_tokens: None, max_cost: None, compact_share: DEFAULT_COMPACT_SHARE }
    }
}

/// One earlier query of a session and its answer (or why it had none).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The query.
    pub query: String,
    /// The answer; for a query that stopped, `"Error: ..."` as a string.
    pub answer: JsonText,
}

/// A sandbox and a conversation kept across queries. See the module docs.
pub struct Session {
    rlm: Rlm,
    conversation: Option<Conversation>,
    contexts: Vec<Context>,
    history: Vec<HistoryEntry>,
    usage: Usage,
    options: SessionOptions,
    notes: Vec<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("contexts", &self.contexts)
            .field("queries", &self.history.len())
            .field("started", &self.conversation.is_some())
            .finish_non_exhaustive()
    }
}

impl Rlm {
    /// A session about `context`, with default options.
    pub fn session(&self, context: impl Into<Context>) -> Session {
        self.session_with(context, SessionOptions::default())
    }

    /// A session about `context`.
    pub fn session_with(&self, context: impl Into<Context>, options: SessionOptions) -> Session {
        Session {
            rlm: self.clone(),
            conversation: None,
            contexts: vec![context.into()],
            history: Vec::new(),
            usage: Usage::default(),
            options,
            notes: Vec::new(),
        }
    }
}

impl Session {
    /// Answers `query` in the session's REPL.
    pub async fn completion(&mut self, query: impl Into<String>) -> Result<Completion, Error> {
        self.request(query).send().await
    }

    /// A query to configure before sending it.
    pub fn request(&mut self, query: impl Into<String>) -> SessionRequest<'_> {
        SessionRequest {
            session: self,
            query: query.into(),
            parts: RequestParts {
                options: RunOptions::default(),
                meta: RequestMeta::default(),
                cancel: None,
                events: None,
                quota: None,
            },
        }
    }

    /// Adds a context for the next query (`context_1`, `context_2`, ...);
    /// returns its index.
    pub fn add_context(&mut self, context: impl Into<Context>) -> usize {
        self.contexts.push(context.into());
        self.contexts.len() - 1
    }

    /// The earlier queries and their answers.
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// What every query of the session used together.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// The REPL's variables (none before the first query).
    pub async fn vars(&mut self) -> Result<Vec<VarInfo>, rlm_core::ReplError> {
        match &mut self.conversation {
            Some(conversation) => conversation.repl.list_vars().await,
            None => Ok(Vec::new()),
        }
    }

    /// Forgets the sandbox, the conversation and the history; the contexts
    /// stay, and the next query starts afresh.
    pub fn reset(&mut self) {
        self.conversation = None;
        self.history.clear();
        self.notes.clear();
    }

    /// Why the session cannot take another query, if it cannot.
    fn spent(&self) -> Option<(ErrorKind, String)> {
        if let Some(max) = self.options.max_tokens
            && self.usage.total.tokens() >= max
        {
            return Some((ErrorKind::MaxTokens, format!("the session's token budget of {max} is spent")));
        }
        if let Some(max) = self.options.max_cost
            && self.usage.known_cost >= max
        {
            return Some((ErrorKind::MaxCost, format!("the session's cost budget of ${max:.4} is spent")));
        }
        None
    }
}

/// One query of a session, configured before it is sent.
#[must_use = "a request does nothing until it is sent"]
pub struct SessionRequest<'a> {
    session: &'a mut Session,
    query: String,
    parts: RequestParts,
}

impl std::fmt::Debug for SessionRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRequest").field("query", &self.query).finish_non_exhaustive()
    }
}

impl SessionRequest<'_> {
    /// Changes settings for this query only.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.parts.options = options;
        self
    }

    /// Who the query is for.
    pub fn meta(mut self, meta: RequestMeta) -> Self {
        self.parts.meta = meta;
        self
    }

    /// Ends the query (not the session) when `token` is cancelled.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.parts.cancel = Some(token);
        self
    }

    /// Sends every event of the query to `sink`.
    pub fn events(mut self, sink: EventSink) -> Self {
        self.parts.events = Some(sink);
        self
    }

    /// Counts the query's sandboxes against `quota`. The session's own
    /// sandbox, made by its first query, counts against that query's quota
    /// for as long as the session lives.
    pub fn quota(mut self, quota: rlm_core::SandboxQuota) -> Self {
        self.parts.quota = Some(quota);
        self
    }

    /// Runs the query.
    pub async fn send(self) -> Result<Completion, Error> {
        let SessionRequest { session, query, mut parts } = self;
        if let Some((kind, message)) = session.spent() {
            return Err(Error { kind, message, source: None, completion: Box::default() });
        }
        // The query's budgets are at most what is left of the session's.
        let left = |max: Option<u64>, used: u64| max.map(|m| m.saturating_sub(used));
        if let Some(left) = left(session.options.max_tokens, session.usage.total.tokens()) {
            let own = parts.options.max_tokens.or(session.rlm.config().max_tokens).unwrap_or(u64::MAX);
            parts.options.max_tokens = Some(own.min(left));
        }
        if let Some(max) = session.options.max_cost {
            let left = (max - session.usage.known_cost).max(0.0);
            let own = parts.options.max_cost.or(session.rlm.config().max_cost).unwrap_or(f64::MAX);
            parts.options.max_cost = Some(own.min(left));
        }
        let mut prepared = prepare(&session.rlm, parts, session.contexts.clone(), query.clone())?;
        prepared.spec.notes = std::mem::take(&mut session.notes);
        let window = prepared.shared.registry.get(&prepared.spec.model).map_or(0, |e| e.context_chars);
        prepared.spec.compact_at = Some((window as f64 * session.options.compact_share) as usize);
        if let Some(conversation) = &mut session.conversation
            && !session.history.is_empty()
        {
            let history = history_helper(&session.history);
            if let Err(e) = conversation.repl.install(&[], &[history]).await {
                tracing::warn!(error = %e, "cannot update the session's history variable");
            }
        }
        let shared = prepared.shared.clone();
        let out = run::run_in(shared.clone(), prepared.spec, Some(&mut session.conversation)).await;
        let result = finish(&shared, prepared.started, prepared.run_id, prepared.log_path, out);
        let completion = match &result {
            Ok(done) => done,
            Err(e) => &*e.completion,
        };
        session.usage.merge(&completion.usage);
        let answer = match &result {
            Ok(done) => done.answer.clone().unwrap_or_else(JsonText::null),
            Err(e) => JsonText::string(&format!("Error: {}: {}", e.kind, e.message)),
        };
        session.history.push(HistoryEntry { query, answer });
        let lost = completion.trajectory.iterations.iter().flat_map(|i| &i.code_blocks).any(|b| b.result.state_lost);
        if lost {
            session.notes.push(notice("state_lost", &[]));
        }
        result
    }
}

/// Helper code that binds `history` in the REPL (restored before every
/// cell, like the other names the engine provides).
fn history_helper(history: &[HistoryEntry]) -> HelperSource {
    let entries: Vec<_> = history.iter().map(|h| json!({"query": h.query, "answer": h.answer})).collect();
    // A JSON string literal is a valid Python string literal.
    let literal = serde_json::Value::String(serde_json::Value::Array(entries).to_string()).to_string();
    HelperSource::new("history", format!("history = __import__('json').loads({literal})"))
}
