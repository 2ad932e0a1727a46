//! Reading a settings file (`--config`, `--generator`) whole, with a cap on its size.
//!
//! Settings files are a few hundred bytes; reading one with `read_to_string` would let a
//! mistaken path (`--config /dev/zero`, a multi-gigabyte capture) take all the memory before
//! the parser ever says it is not TOML. So the read stops one byte past [`MAX_SETTINGS_LEN`],
//! and invalid UTF-8 is reported with the offset of its first bad byte.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Largest settings file read (1 MiB).
pub const MAX_SETTINGS_LEN: u64 = 1 << 20;

/// The text of a settings file, or an error (the operating system's, "larger than 1 MiB", or
/// "not UTF-8 at byte offset N") in the `io::Error` the callers already wrap with the path.
pub fn read_settings_text(path: &Path) -> io::Result<String> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_SETTINGS_LEN + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SETTINGS_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_SETTINGS_LEN} bytes: not a settings file"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not valid UTF-8 at byte offset {}",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_the_size_and_names_the_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "a = 1\n").unwrap();
        assert_eq!(read_settings_text(&p).unwrap(), "a = 1\n");
        std::fs::write(&p, b"a = \"\xff\"\n").unwrap();
        let e = read_settings_text(&p).unwrap_err().to_string();
        assert!(e.contains("byte offset 5"), "{e}");
        std::fs::write(&p, vec![b' '; MAX_SETTINGS_LEN as usize + 1]).unwrap();
        let e = read_settings_text(&p).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
    }
}
