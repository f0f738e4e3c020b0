//! Typed answers: a JSON Schema the final answer must match.

use std::fmt;
use std::sync::Arc;

use rlm_core::JsonText;

use crate::error::BuildError;

/// Most validation errors shown to the model for one answer.
const MAX_ERRORS: usize = 10;

/// The largest answer checked against a schema. Checking parses the answer
/// into a tree, which costs the host up to ~200x the text (`[{}, {}, ...]`);
/// a larger answer is refused with a message the model sees, so that a
/// sandbox's value cap (32 MiB by default) cannot turn into gigabytes here.
pub const MAX_CHECKED_ANSWER_BYTES: usize = 1 << 20;

/// A compiled JSON Schema for the final answer (drafts 4, 6, 7, 2019-09 and
/// 2020-12, by the schema's `$schema`; 2020-12 without one). Remote `$ref`s
/// are not fetched.
#[derive(Clone)]
pub struct AnswerSchema {
    schema: JsonText,
    validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for AnswerSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AnswerSchema").field(&self.schema.as_str()).finish()
    }
}

impl AnswerSchema {
    /// Compiles `schema`, or says why it is not a valid schema.
    pub fn new(schema: JsonText) -> Result<AnswerSchema, BuildError> {
        let validator = jsonschema::validator_for(&schema.to_value())
            .map_err(|e| BuildError::invalid("answer schema", e.to_string()))?;
        Ok(AnswerSchema { schema, validator: Arc::new(validator) })
    }

    /// The schema, as given.
    pub fn schema(&self) -> &JsonText {
        &self.schema
    }

    /// `Ok` when `answer` matches, else why not: one line per error (at most
    /// ten), each with where in the answer it is. An answer over
    /// 1 MiB does not match (parsing it could cost the host ~200x its size).
    pub fn check(&self, answer: &JsonText) -> Result<(), Vec<String>> {
        let size = answer.as_str().len();
        if size > MAX_CHECKED_ANSWER_BYTES {
            return Err(vec![format!(
                "- the answer: it is {size} bytes of JSON; an answer checked against a schema may be at most \
                 {MAX_CHECKED_ANSWER_BYTES} bytes"
            )]);
        }
        let value = answer.to_value();
        let mut errors = Vec::new();
        for (n, error) in self.validator.iter_errors(&value).enumerate() {
            if n == MAX_ERRORS {
                errors.push("(more errors not shown)".to_owned());
                break;
            }
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "the answer".to_owned() } else { format!("at `{at}`") };
            errors.push(format!("- {at}: {error}"));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> AnswerSchema {
        AnswerSchema::new(JsonText::parse(text, usize::MAX).unwrap()).unwrap()
    }

    #[test]
    fn answers_are_checked_with_where_and_why() {
        let s = schema(r#"{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}"#);
        assert!(s.check(&JsonText::parse(r#"{"n": 3}"#, usize::MAX).unwrap()).is_ok());
        let errors = s.check(&JsonText::parse(r#"{"n": "three"}"#, usize::MAX).unwrap()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("/n") && errors[0].contains("integer"), "{errors:?}");
        let errors = s.check(&JsonText::string("3")).unwrap_err();
        assert!(errors[0].contains("the answer"), "{errors:?}");
    }

    #[test]
    fn answers_over_the_checked_size_are_refused_unparsed() {
        let big = JsonText::parse(&format!("[{}0]", "0, ".repeat(MAX_CHECKED_ANSWER_BYTES / 3)), usize::MAX).unwrap();
        let errors = schema(r#"{"type": "array"}"#).check(&big).unwrap_err();
        assert!(errors[0].contains("may be at most 1048576 bytes"), "{errors:?}");
    }

    #[test]
    fn an_invalid_schema_is_a_build_error() {
        let err = AnswerSchema::new(JsonText::parse(r#"{"type": 5}"#, usize::MAX).unwrap()).unwrap_err();
        assert!(err.to_string().contains("answer schema"), "{err}");
    }
}
