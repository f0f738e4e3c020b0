//! The system prompts, compiled in from `prompts/` and overridable at run time.

use std::path::Path;

/// The prompts a run uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompts {
    /// System prompt of the root model.
    pub root: String,
    /// System prompt of every sub-RLM.
    pub child: String,
    /// The message that asks for an answer once the iterations run out.
    pub final_answer: String,
}

impl Default for Prompts {
    fn default() -> Self {
        Prompts {
            root: include_str!("../../../prompts/root.txt").to_owned(),
            child: include_str!("../../../prompts/child.txt").to_owned(),
            final_answer: include_str!("../../../prompts/final_answer.txt").to_owned(),
        }
    }
}

impl Prompts {
    /// The built-in prompts with the root and/or child prompt read from files.
    pub fn with_files(root: Option<&Path>, child: Option<&Path>) -> std::io::Result<Prompts> {
        let mut prompts = Prompts::default();
        if let Some(path) = root {
            prompts.root = std::fs::read_to_string(path)?;
        }
        if let Some(path) = child {
            prompts.child = std::fs::read_to_string(path)?;
        }
        Ok(prompts)
    }
}
