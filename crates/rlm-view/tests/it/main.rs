//! rlm-view's integration tests: pages rendered from generated logs, loaded
//! in a real headless Chromium, checked through the DOM, with no console
//! error allowed, and one screenshot per page kept under
//! `$CARGO_TARGET_TMPDIR/rlm-view-browser/` (with the page itself).
//!
//! Modules:
//! - `chromium`: starts Chromium and drives it over the DevTools protocol.
//! - `fixtures`: makes the logs.
//! - `pages`: the tests, one per page.

mod chromium;
mod fixtures;
mod pages;
