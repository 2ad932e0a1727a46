//! Where a written source goes: a file, or stdout for `-`.

use std::path::Path;

/// The file an output goes to: `-` is stdout (a duplicate of its descriptor, so that every
/// writer writes to a `File`, and closing it leaves stdout open).
pub fn create_output(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsFd;
    if path.as_os_str() == "-" {
        Ok(std::fs::File::from(
            std::io::stdout().as_fd().try_clone_to_owned()?,
        ))
    } else {
        std::fs::File::create(path)
    }
}
