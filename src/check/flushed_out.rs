//! `check --flushed-out DIR`: every scenario's flushed items as JSON lines, streamed into
//! `DIR/<scenario>.jsonl` as the run flushes them. The files are created before the pass, so
//! an unwritable folder fails before any work; items the pass flushes before a scenario's stop
//! go to that scenario's file as they come, and so do the items of its stop sequence.

use super::CheckError;
use crate::pipeline::flushed::FlushedItem;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
            source,
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
                    source,
                })?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), CheckError> {
        self.out.flush().map_err(|source| CheckError::FlushedOut {
            path: self.path,
            source,
        })
    }
}
