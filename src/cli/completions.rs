//! `lastbucket completions SHELL` and `lastbucket man`: both written from the clap definition
//! of the command line, so they list exactly the commands and flags the binary takes.

use super::error::CliError;
use super::Cli;
use clap::{Args, CommandFactory};
use std::io::Write;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script of `shell` to stdout.
pub fn run_completions(args: CompletionsArgs) -> Result<i32, CliError> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "lastbucket", &mut out);
    write_stdout(&out)
}

/// Writes the man page, roff, to stdout (`lastbucket man > lastbucket.1`).
pub fn run_man() -> Result<i32, CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(CliError::output)?;
    write_stdout(title_first(&String::from_utf8_lossy(&out)).as_bytes())
}

/// clap_mangen opens the page with the definition of the `Aq` (apostrophe) string, and `.TH`
/// comes after it. A page opens with its title (`.TH`) by convention and tools that sniff for
/// it look at the top, so the title line is moved up; the string is still defined before the
/// first text that uses it.
fn title_first(page: &str) -> String {
    let mut lines: Vec<&str> = page.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.starts_with(".TH ")) {
        let title = lines.remove(i);
        lines.insert(0, title);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Stdout that cannot be written (a closed pipe, a full disk) is an output error, as for every
/// output.
fn write_stdout(bytes: &[u8]) -> Result<i32, CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::output(format!("cannot write to stdout: {e}")))?;
    Ok(crate::exit::SUCCESS)
}
