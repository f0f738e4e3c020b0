//! `rlm-sandbox view`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::{UsageError, ViewArgs};

pub(crate) async fn run(args: ViewArgs) -> anyhow::Result<ExitCode> {
    let log = std::fs::read_to_string(&args.log)
        .map_err(|e| UsageError(format!("cannot read `{}`: {e}", args.log.display())))?;
    let title = args.log.file_name().map_or_else(|| "trajectory".to_owned(), |n| n.to_string_lossy().into_owned());
    let html = rlm_view::render(&log, &title).with_context(|| format!("cannot show `{}`", args.log.display()))?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, html).with_context(|| format!("cannot write `{}`", path.display()))?;
            eprintln!("rlm-sandbox: wrote {}", path.display());
        }
        None => {
            let server = rlm_view::serve(html, args.listen).await.map_err(|e| UsageError(e.to_string()))?;
            println!("{}", server.url());
            tokio::select! {
                served = server.wait() => served?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
