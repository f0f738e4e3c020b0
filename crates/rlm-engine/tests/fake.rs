//! The engine's loop with a scripted model and a fake REPL: no wasm, no
//! network, milliseconds. The fake REPL runs a tiny language, one command a
//! line: `print TEXT`, `set NAME`, `raise TEXT`, `ask PROMPT` (an
//! `llm_query` whose reply is printed), `final JSON`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rlm_core::{
    CallHandler, CellError, CellErrorKind, CellOutcome, Context, FunctionInfo, HelperSource, HostCall, JsonText, Model,
    ModelError, ModelReply, ModelRequest, Repl, ReplError, ReplFactory, SpawnOptions, TokenUsage, ToolSpec, VarInfo,
};
use rlm_engine::{ErrorKind, ModelEntry, ModelRegistry, Rlm, RunOptions};

/// Replies from a script, then `final "done"`; records every request.
#[derive(Debug, Default)]
struct Scripted {
    name: String,
    replies: Mutex<VecDeque<String>>,
    requests: Mutex<Vec<ModelRequest>>,
}

impl Scripted {
    fn new(name: &str, replies: &[&str]) -> Arc<Self> {
        Arc::new(Scripted {
            name: name.into(),
            replies: Mutex::new(replies.iter().map(|r| r.to_string()).collect()),
            requests: Mutex::default(),
        })
    }
}

impl Model for Scripted {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelReply, ModelError>> {
        let last = request.messages.last().map(|m| m.content.clone()).unwrap_or_default();
        self.requests.lock().unwrap().push(request);
        let text = self.replies.lock().unwrap().pop_front().unwrap_or_else(|| format!("sub:{last}"));
        let usage = TokenUsage::new(100, 10);
        Box::pin(async move { Ok(ModelReply::new(text, "scripted", usage)) })
    }
}

#[derive(Debug, Default)]
struct FakeFactory {
    spawned: Mutex<u32>,
}

struct FakeRepl {
    handler: Arc<dyn CallHandler>,
    vars: Vec<String>,
}

impl ReplFactory for FakeFactory {
    fn spawn(&self, options: SpawnOptions) -> BoxFuture<'_, Result<Box<dyn Repl>, ReplError>> {
        *self.spawned.lock().unwrap() += 1;
        Box::pin(async move { Ok(Box::new(FakeRepl { handler: options.handler, vars: Vec::new() }) as Box<dyn Repl>) })
    }
}

impl Repl for FakeRepl {
    fn load_context(&mut self, _: u32, _: Context) -> BoxFuture<'_, Result<(), ReplError>> {
        Box::pin(async { Ok(()) })
    }

    fn install<'a>(
        &'a mut self,
        _: &'a [ToolSpec],
        _: &'a [HelperSource],
    ) -> BoxFuture<'a, Result<Result<Vec<FunctionInfo>, String>, ReplError>> {
        Box::pin(async { Ok(Ok(Vec::new())) })
    }

    fn run_cell<'a>(&'a mut self, code: &'a str, _: Option<Instant>) -> BoxFuture<'a, Result<CellOutcome, ReplError>> {
        Box::pin(async move {
            let mut out = CellOutcome::new("", "", None);
            for line in code.lines() {
                let (command, arg) = line.split_once(' ').unwrap_or((line, ""));
                match command {
                    "print" => out.stdout.push_str(&format!("{arg}\n")),
                    "set" => {
                        self.vars.push(arg.to_owned());
                        out.changed_vars.push(VarInfo::new(arg, "int"));
                    }
                    "raise" => {
                        out.error = Some(CellError::new(CellErrorKind::Exception, arg.to_owned()));
                        out.stderr = format!("Error: {arg}\n");
                        break;
                    }
                    "ask" => {
                        let call = HostCall::Llm { prompt: arg.to_owned(), model: None };
                        let reply = self.handler.call(vec![call]).await.remove(0);
                        out.stdout
                            .push_str(&format!("{}\n", reply.map(|r| r.as_text().into_owned()).unwrap_or_else(|e| e)));
                    }
                    "final" => {
                        out.final_value = Some(JsonText::parse(arg, 1 << 20).unwrap());
                        break;
                    }
                    _ => {}
                }
            }
            Ok(out)
        })
    }

    fn get_var<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, Result<Result<JsonText, String>, ReplError>> {
        let found = self.vars.iter().any(|v| v == name);
        Box::pin(async move { Ok(if found { Ok(JsonText::string(name)) } else { Err(format!("no variable {name}")) }) })
    }

    fn list_vars(&mut self) -> BoxFuture<'_, Result<Vec<VarInfo>, ReplError>> {
        let vars = self.vars.iter().map(|n| VarInfo::new(n.clone(), "int")).collect();
        Box::pin(async move { Ok(vars) })
    }
}

fn repl(code: &str) -> String {
    format!("```repl\n{code}\n```")
}

fn rlm(model: Arc<Scripted>) -> (Rlm, Arc<FakeFactory>) {
    let factory = Arc::new(FakeFactory::default());
    let rlm = Rlm::builder().root(model).sandboxes(factory.clone()).build().unwrap();
    (rlm, factory)
}

#[tokio::test]
async fn the_loop_runs_code_shows_output_and_ends_at_final() {
    let model = Scripted::new("m", &[&repl("print hello\nset x"), &repl("ask what?\nfinal {\"n\": 1}")]);
    let (rlm, factory) = rlm(model.clone());
    let started = Instant::now();
    let done = rlm.completion("ctx", "q").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(done.answer.unwrap(), serde_json::json!({"n": 1}));
    assert_eq!(done.iterations, 2);
    assert_eq!(done.sub_calls, 1);
    assert_eq!(*factory.spawned.lock().unwrap(), 1);
    let requests = model.requests.lock().unwrap();
    let second = &requests[1].messages.last().unwrap().content;
    assert!(second.contains("stdout:\nhello") && second.contains("Variables changed: x"), "{second}");
    assert_eq!(requests[2].messages.last().unwrap().content, "what?", "the sub-call");
}

#[tokio::test]
async fn a_request_changes_options_without_a_new_rlm() {
    let model = Scripted::new("m", &[]);
    let big = Scripted::new("big", &[]);
    let registry =
        ModelRegistry::new().with("m", ModelEntry::new(model.clone())).with("big", ModelEntry::new(big.clone()));
    let factory = Arc::new(FakeFactory::default());
    let rlm = Rlm::builder().models(registry).root_model("m").sandboxes(factory).build().unwrap();
    model.replies.lock().unwrap().extend([repl("print 1"), repl("print 2"), "no answer".into()]);
    let mut options = RunOptions::default();
    options.max_iterations = Some(2);
    let err = rlm.request("", "q").options(options).send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::MaxIterations);
    assert_eq!(err.completion.iterations, 2);
    big.replies.lock().unwrap().push_back(repl("final 7"));
    let mut options = RunOptions::default();
    options.root_model = Some("big".into());
    let done = rlm.request("", "q").options(options).send().await.unwrap();
    assert_eq!(done.answer.unwrap(), serde_json::json!(7));
    let mut options = RunOptions::default();
    options.root_model = Some("nope".into());
    let err = rlm.request("", "q").options(options).send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
}

#[tokio::test]
async fn a_cancelled_run_ends_with_its_partial_result() {
    let model = Scripted::new("m", &[]);
    model.replies.lock().unwrap().extend((0..1000).map(|i| repl(&format!("print {i}"))));
    let (rlm, _) = rlm(model.clone());
    let cancel = rlm_engine::Cancel::new();
    let mut options = RunOptions::default();
    options.max_iterations = Some(1000);
    let run = tokio::spawn(rlm.request("", "q").options(options).cancel(cancel.clone()).send());
    while model.requests.lock().unwrap().len() < 3 {
        tokio::task::yield_now().await;
    }
    cancel.cancel();
    let err = run.await.unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert!(err.completion.iterations >= 2, "the partial result is kept: {}", err.completion.iterations);
    assert!(!err.completion.trajectory.iterations.is_empty());
}
