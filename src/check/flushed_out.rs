//! `check --flushed-out DIR`: every scenario's flushed items as JSON lines, streamed into
//! `DIR/<scenario>.jsonl` as the run flushes them. The files are created before the pass, so
//! an unwritable folder fails before any work; items the pass flushes before a scenario's stop
//! go to that scenario's file as they come, and so do the items of its stop sequence.

use super::CheckError;
use crate::pipeline::flushed::FlushedItem;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Creates the folder of `--flushed-out` (or takes it as it is): its parent must exist, so a
/// typo in a path is an error that names the missing folder, not a tree made in silence.
pub fn create_dir(dir: &Path) -> Result<(), CheckError> {
    let err = |source| CheckError::FlushedOut {
        path: dir.to_path_buf(),
        error: source,
    };
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.is_dir())
    {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the folder {} does not exist", parent.display()),
        )));
    }
    std::fs::create_dir(dir).map_err(err)
}

/// The file of a scenario's flushed items: its name with spaces as `_`.
pub fn flushed_path(dir: &Path, scenario: &str) -> PathBuf {
    let file: String = scenario
        .chars()
        .map(|c| {
            if c == ' ' || c == '/' || c == '\\' {
                '_'
            } else {
                c
            }
        })
        .collect();
    dir.join(format!("{file}.jsonl"))
}

/// An open scenario file.
#[derive(Debug)]
pub struct FlushedFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl FlushedFile {
    pub fn create(dir: &Path, scenario: &str) -> Result<FlushedFile, CheckError> {
        let path = flushed_path(dir, scenario);
        let f = File::create(&path).map_err(|source| CheckError::FlushedOut {
            path: path.clone(),
            error: source,
        })?;
        Ok(FlushedFile {
            path,
            out: BufWriter::new(f),
        })
    }

    pub fn write(&mut self, items: &[FlushedItem]) -> Result<(), CheckError> {
        for item in items {
            serde_json::to_writer(&mut self.out, item)
                .map_err(std::io::Error::from)
                .and_then(|()| self.out.write_all(b"\n"))
                .map_err(|source| CheckError::FlushedOut {
                    path: self.path.clone(),
                    error: source,
                })?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), CheckError> {
        self.out.flush().map_err(|source| CheckError::FlushedOut {
            path: self.path,
            error: source,
        })
    }
}
