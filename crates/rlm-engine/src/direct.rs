//! Routing: a context shorter than the direct threshold is answered by one
//! plain call to the root model, with the context in the prompt and no
//! REPL. The trajectory records it as one iteration, and its metadata says
//! `route: direct`.

use std::sync::Arc;
use std::time::Instant;

use rlm_core::{JsonText, Message};
use serde_json::{Value, json};

use crate::events::EventKind;
use crate::observe::notice;
use crate::run::run_metadata;
use crate::shared::{RunOutput, RunSpec, Shared};
use crate::trajectory::{Iteration, Trajectory};

/// Whether the request's contexts are short enough to answer directly.
pub(crate) fn applies(shared: &Shared, spec: &RunSpec) -> bool {
    let chars: usize = spec.contexts.iter().map(|c| c.as_prompt().chars().count()).sum();
    shared.config.direct_threshold.is_some_and(|threshold| chars < threshold)
}

/// What a direct answer gave.
pub(crate) enum Direct {
    /// The run's output.
    Done(RunOutput),
    /// The reply did not match the answer schema: run the REPL instead; the
    /// attempt is kept for the trajectory.
    FallBack(Iteration),
}

/// Answers with one model call.
pub(crate) async fn answer(shared: &Arc<Shared>, spec: &mut RunSpec) -> Direct {
    let mut metadata = run_metadata(shared, spec);
    metadata["route"] = json!("direct");
    spec.emitter.emit(|| EventKind::RunStarted { model: spec.model.clone(), max_iterations: 1, parent: None });
    spec.emitter.emit(|| EventKind::IterationStarted { iteration: 1, max_iterations: 1 });
    let context = match spec.contexts.as_slice() {
        [only] => only.as_prompt().to_owned(),
        many => many
            .iter()
            .enumerate()
            .map(|(i, c)| format!("context_{i}:\n{}", c.as_prompt()))
            .collect::<Vec<_>>()
            .join("\n\n"),
    };
    let schema = shared.config.answer_schema.as_ref().map_or_else(String::new, |s| {
        format!("\nThe answer must be JSON, and nothing else, matching this JSON Schema:\n{}", s.schema().as_str())
    });
    let prompt = notice("direct", &[("context", &context), ("schema", &schema), ("query", &spec.query)]);
    let messages = vec![Message::user(prompt)];
    let started = Instant::now();
    let sampling = spec.sampling.clone().unwrap_or_else(|| shared.config.sampling.clone());
    let mut record = Iteration::new(1, messages.clone(), 0);
    let reply = shared.call_model(&spec.model, messages, &sampling, 0, &spec.emitter).await;
    record.iteration_time = started.elapsed().as_secs_f64();
    let result = match reply {
        Ok(reply) => {
            spec.emitter.emit(|| EventKind::ModelReply {
                iteration: 1,
                text: reply.text.clone(),
                reasoning: reply.reasoning.clone(),
                usage: reply.usage,
                finish_reason: reply.finish_reason.as_str().to_owned(),
            });
            record.usage = reply.usage;
            record.reasoning = reply.reasoning;
            record.finish_reason = reply.finish_reason.as_str().to_owned();
            let answer = match &shared.config.answer_schema {
                None => Ok(JsonText::string(reply.text.trim())),
                Some(schema) => {
                    let text = strip_fence(&reply.text);
                    match JsonText::parse(text, shared.config.limits.max_value_bytes) {
                        Ok(value) => schema.check(&value).map(|()| value).map_err(|errors| errors.join("; ")),
                        Err(e) => Err(format!("the reply is not JSON: {e}")),
                    }
                }
            };
            record.response = reply.text;
            match answer {
                Ok(answer) => Ok(answer),
                Err(why) => {
                    record.error = Some(format!("answer_schema: {why}"));
                    return Direct::FallBack(record);
                }
            }
        }
        Err(stop) => {
            record.error = Some(format!("{}: {}", stop.kind, stop.message));
            Err(stop)
        }
    };
    record.set_answer(result.as_ref().ok());
    let mut trajectory = Trajectory { run_metadata: metadata, iterations: vec![record], answer: None };
    match &result {
        Ok(answer) => {
            trajectory.answer = Some(answer.clone());
            spec.emitter.emit(|| EventKind::FinalAnswer { answer: answer.clone() });
        }
        Err(stop) => {
            spec.emitter.emit(|| EventKind::Error { kind: stop.kind.to_string(), message: stop.message.clone() })
        }
    }
    if let Some(mut log) = spec.log.take() {
        let written = log.metadata(&trajectory.run_metadata).and_then(|()| log.iteration(&trajectory.iterations[0]));
        if let Err(e) = written {
            tracing::warn!(path = %log.path().display(), error = %e, "cannot write the trajectory log");
        }
    }
    let last_reply = Some(trajectory.iterations[0].response.clone());
    Direct::Done(RunOutput { result, iterations: 1, trajectory, last_reply })
}

/// The text inside a reply's one fenced block, if it is one (models often
/// fence JSON).
fn strip_fence(reply: &str) -> &str {
    let trimmed = reply.trim();
    let Some(rest) = trimmed.strip_prefix("```") else { return trimmed };
    let Some(body) = rest.strip_suffix("```") else { return trimmed };
    body.split_once('\n').map_or(body, |(_, b)| b).trim()
}

/// Adds a direct attempt that fell back to the REPL to the run's metadata.
pub(crate) fn keep_attempt(trajectory: &mut Trajectory, attempt: &Iteration) {
    if let Value::Object(metadata) = &mut trajectory.run_metadata {
        metadata.insert("direct_attempt".into(), serde_json::to_value(attempt).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::strip_fence;

    #[test]
    fn fences_are_stripped() {
        assert_eq!(strip_fence("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(strip_fence(" {\"a\": 1} "), "{\"a\": 1}");
        assert_eq!(strip_fence("```\n[1]\n```"), "[1]");
    }
}
