//! The resumable output directory (`--out DIR`).
//!
//! ```text
//! DIR/
//!   items/<task>-<length>-<id>.json          one ItemResult per finished RLM item
//!   trajectories/<task>-<length>-<id>.jsonl  the RLM's trajectory, if the solver gave one
//!   base/items/<task>-<length>-<id>.json     the same for `base` mode
//!   base/trajectories/...
//!   report.txt, report.json, report.csv      the summary of the last run
//! ```
//!
//! Every file is written atomically: to a temporary name in the same
//! directory, flushed, then renamed over the final name. A killed run
//! therefore leaves either a whole result file or none, and the next run
//! skips exactly the items whose result file exists. Delete an item's file
//! to run it again.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{Error, ItemKey, ItemResult, Mode, Report};

/// An output directory.
#[derive(Debug, Clone)]
pub struct OutDir {
    root: PathBuf,
}

/// Writes `bytes` to `path` atomically: a temporary file next to it, synced,
/// then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A name starting with `.` and ending in `.tmp` is never mistaken for a
    // result by `done`; the pid keeps two processes sharing DIR apart.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

impl OutDir {
    /// Opens `root`, creating it and its subdirectories if needed.
    pub fn create(root: impl Into<PathBuf>) -> Result<OutDir, Error> {
        let out = OutDir { root: root.into() };
        for mode in [Mode::Rlm, Mode::Base] {
            for dir in [out.items_dir(mode), out.trajectories_dir(mode)] {
                fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
        }
        Ok(out)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn mode_dir(&self, mode: Mode) -> PathBuf {
        match mode {
            Mode::Rlm => self.root.clone(),
            Mode::Base => self.root.join("base"),
        }
    }

    fn items_dir(&self, mode: Mode) -> PathBuf {
        self.mode_dir(mode).join("items")
    }

    fn trajectories_dir(&self, mode: Mode) -> PathBuf {
        self.mode_dir(mode).join("trajectories")
    }

    /// Where an item's result goes.
    pub fn result_path(&self, key: ItemKey, mode: Mode) -> PathBuf {
        self.items_dir(mode).join(format!("{key}.json"))
    }

    /// Where an item's trajectory goes.
    pub fn trajectory_path(&self, key: ItemKey, mode: Mode) -> PathBuf {
        self.trajectories_dir(mode).join(format!("{key}.jsonl"))
    }

    /// Writes a result atomically; returns its path.
    pub fn write_result(&self, result: &ItemResult) -> Result<PathBuf, Error> {
        let path = self.result_path(result.key(), result.mode);
        let mut json = serde_json::to_vec_pretty(result).map_err(|e| Error::Json { path: path.clone(), source: e })?;
        json.push(b'\n');
        write_atomic(&path, &json)?;
        Ok(path)
    }

    /// Writes a trajectory (JSONL text) atomically; returns its path
    /// relative to the directory, as recorded in [`ItemResult::trajectory`].
    pub fn write_trajectory(&self, key: ItemKey, mode: Mode, jsonl: &str) -> Result<String, Error> {
        let path = self.trajectory_path(key, mode);
        write_atomic(&path, jsonl.as_bytes())?;
        Ok(path.strip_prefix(&self.root).unwrap_or(&path).to_string_lossy().into_owned())
    }

    /// The items whose result file exists, from the file names alone.
    pub fn done(&self, mode: Mode) -> Result<BTreeSet<ItemKey>, Error> {
        let dir = self.items_dir(mode);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut out = BTreeSet::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(key) = name.strip_suffix(".json").and_then(|k| k.parse().ok()) {
                out.insert(key);
            }
        }
        Ok(out)
    }

    /// Reads one item's result, if it exists.
    pub fn read_result(&self, key: ItemKey, mode: Mode) -> Result<Option<ItemResult>, Error> {
        let path = self.result_path(key, mode);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Json { path, source: e })
    }

    /// Reads every result of `mode`, in key order.
    pub fn load_results(&self, mode: Mode) -> Result<Vec<ItemResult>, Error> {
        let mut out = Vec::new();
        for key in self.done(mode)? {
            if let Some(r) = self.read_result(key, mode)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Writes `report.txt` (the table), `report.json` and `report.csv`.
    pub fn write_report(&self, report: &Report) -> Result<(), Error> {
        write_atomic(&self.root.join("report.txt"), report.table().as_bytes())?;
        let path = self.root.join("report.json");
        let json = serde_json::to_vec_pretty(&report.summary_json())
            .map_err(|e| Error::Json { path: path.clone(), source: e })?;
        write_atomic(&path, &json)?;
        write_atomic(&self.root.join("report.csv"), report.summary_csv().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Gold, Task};

    #[test]
    fn results_round_trip_and_are_listed_as_done() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutDir::create(dir.path().join("run")).unwrap();
        let r = ItemResult {
            task: Task::OolongPairs,
            length: "8k".parse().unwrap(),
            id: 3,
            mode: Mode::Rlm,
            score: 0.5,
            answer: Some(serde_json::json!([[1, 2]])),
            gold: Gold::Pairs { pairs: vec![(1, 2), (1, 3)], symmetric: true },
            error: None,
            cost: None,
            input_tokens: 1,
            output_tokens: 2,
            elapsed_secs: 0.5,
            iterations: 1,
            sub_calls: 0,
            trajectory: None,
        };
        let path = out.write_result(&r).unwrap();
        assert!(path.ends_with("items/oolong-pairs-8k-3.json"));
        // Leftover temporaries and stray files are not results.
        fs::write(out.items_dir(Mode::Rlm).join(".oolong-8k-1.json.9.tmp"), "{").unwrap();
        fs::write(out.items_dir(Mode::Rlm).join("notes.txt"), "").unwrap();
        assert_eq!(out.done(Mode::Rlm).unwrap().into_iter().collect::<Vec<_>>(), [r.key()]);
        assert!(out.done(Mode::Base).unwrap().is_empty());
        assert_eq!(out.read_result(r.key(), Mode::Rlm).unwrap(), Some(r.clone()));
        let rel = out.write_trajectory(r.key(), Mode::Base, "{}\n").unwrap();
        assert_eq!(rel, "base/trajectories/oolong-pairs-8k-3.jsonl");
        out.write_report(&Report::new(vec![r])).unwrap();
        assert!(dir.path().join("run/report.csv").exists());
    }
}
