//! What a user finds without the README: `generate --help` lists every generator key with its
//! default and range, `completions SHELL` knows every command, `man` is a roff page.

mod common;
use clap::CommandFactory;
use common::lastbucket;
use lastbucket::cli::Cli;

fn stdout_of(args: &[&str]) -> String {
    let out = lastbucket().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generate_help_lists_every_key_with_its_default() {
    let help = stdout_of(&["generate", "--help"]);
    let keys: Vec<_> = lastbucket::source::generate::keys_with_defaults().collect();
    assert!(keys.len() > 20);
    for (name, default) in keys {
        let line = help
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in generate --help:\n{help}"));
        let shown = line.split_whitespace().nth(1).unwrap();
        assert_eq!(shown, default.as_deref().unwrap_or("-"), "{line}");
    }
    assert!(
        help.contains("contexts             200           1..1000000"),
        "{help}"
    );
}

#[test]
fn bash_completions_name_every_subcommand() {
    let script = stdout_of(&["completions", "bash"]);
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(commands.len() >= 11, "{commands:?}");
    for c in &commands {
        assert!(
            script.contains(&format!("lastbucket,{c})")),
            "{c} not completed"
        );
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(
            stdout_of(&["completions", shell]).contains("sweep"),
            "{shell}"
        );
    }
    lastbucket().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn man_is_a_roff_page_with_every_command() {
    let page = stdout_of(&["man"]);
    assert!(
        page.starts_with(".TH lastbucket 1"),
        "{}",
        &page[..80.min(page.len())]
    );
    assert!(page.contains("\n.SH NAME\n"));
    assert!(page.contains("\n.SH SUBCOMMANDS\n"));
    for c in Cli::command().get_subcommands() {
        assert!(
            page.contains(&format!("lastbucket\\-{}", c.get_name())),
            "{} not in man",
            c.get_name()
        );
    }
}

/// The README's copy of the key table is the one `generate --help` prints.
#[test]
fn the_readme_lists_the_keys_as_generate_help_does() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = lastbucket::source::generate::keys_help();
    assert!(
        readme.contains(&table),
        "README.md's generator key table differs from `generate --help`; paste:\n{table}"
    );
}
