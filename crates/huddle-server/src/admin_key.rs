//! The admin key: given (`--admin-key` / `HUDDLE_ADMIN_KEY`), or read from
//! `<data-dir>/admin.key`, or generated there on first start (32 random
//! bytes, hex; the file is readable by its owner only).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The key file's name inside the data dir.
pub const KEY_FILE: &str = "admin.key";

/// Where the admin key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The flag or env var.
    Given,
    /// The key file of an earlier start.
    Stored,
    /// Generated now and written to the key file.
    Generated,
}

/// The admin key to use, and where it came from.
pub fn resolve(given: Option<&str>, data_dir: &Path) -> anyhow::Result<(String, KeySource)> {
    if let Some(key) = given {
        let key = key.trim();
        anyhow::ensure!(!key.is_empty(), "--admin-key / HUDDLE_ADMIN_KEY is empty");
        return Ok((key.to_owned(), KeySource::Given));
    }
    let path = key_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim();
            anyhow::ensure!(!key.is_empty(), "{} is empty", path.display());
            Ok((key.to_owned(), KeySource::Stored))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate()?;
            write_new(&path, &key)?;
            Ok((key, KeySource::Generated))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `<data_dir>/admin.key`.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

/// 32 random bytes from the OS, as 64 hex digits.
pub fn generate() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_new(path: &Path, key: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{key}").with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (key, source) = resolve(None, &data).unwrap();
        assert_eq!(source, KeySource::Generated);
        assert_eq!(key.len(), 64);
        let (again, source) = resolve(None, &data).unwrap();
        assert_eq!(source, KeySource::Stored);
        assert_eq!(again, key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(&data))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn given_key_wins_and_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (key, source) = resolve(Some(" k "), dir.path()).unwrap();
        assert_eq!((key.as_str(), source), ("k", KeySource::Given));
        assert!(!key_path(dir.path()).exists());
        assert!(resolve(Some("  "), dir.path()).is_err());
    }
}
