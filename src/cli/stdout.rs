//! `-` is stdout for every output flag; two outputs on stdout at once would interleave two
//! documents, so they are a usage error that names both flags.

use super::error::CliError;

/// Refuses more than one of `flags` (the output flags given `-`) on stdout.
pub fn one_on_stdout(flags: &[&str]) -> Result<(), CliError> {
    match flags {
        [] | [_] => Ok(()),
        [first @ .., last] => Err(CliError::usage(format!(
            "{} and {last} both go to stdout (`-`): give all but one of them a file",
            first.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_flag_on_stdout() {
        assert!(one_on_stdout(&[]).is_ok());
        assert!(one_on_stdout(&["--plot"]).is_ok());
        let e = one_on_stdout(&["--plot", "--export-json"]).unwrap_err();
        assert_eq!(e.class, crate::exit::ErrorClass::Usage);
        assert!(e
            .message
            .contains("--plot and --export-json both go to stdout"));
    }
}
