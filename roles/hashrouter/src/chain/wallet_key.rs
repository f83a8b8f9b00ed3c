//! Loading the seller's wallet key (the key that owns the node's Lumerin contracts and decrypts
//! their destinations) from a key file or an environment variable, and creating a key file.
//!
//! A key file holds 64 hex digits (optionally `0x`, surrounding whitespace ignored) and must not
//! be readable or writable by group or others. Nothing here logs or returns the key's text: the
//! errors name the file or variable and what is wrong with it.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use contracts::{WalletKey, WalletKeyParseError};

/// Longest key file read: a key is 64 digits, so anything near this is not a key file.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Where the node's wallet key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletKeySource {
    /// A key file (mode 0600 or stricter).
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
}

/// Why the wallet key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum WalletKeyError {
    #[error("cannot read wallet key file {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("wallet key file {} is not a regular file", .path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "wallet key file {} is accessible by group or others (mode {mode:04o}); \
         restrict it with `chmod 600 {}`",
        .path.display(), .path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("wallet key file {} is larger than {MAX_KEY_FILE_BYTES} bytes: not a key file", .path.display())]
    TooLarge { path: PathBuf },
    #[error("wallet key file {} is empty", .path.display())]
    EmptyFile { path: PathBuf },
    #[error("wallet key file {}: {source}", .path.display())]
    InvalidFile {
        path: PathBuf,
        source: WalletKeyParseError,
    },
    #[error("environment variable {name} (wallet key) is not set")]
    EnvMissing { name: String },
    #[error("environment variable {name} (wallet key) is empty")]
    EnvEmpty { name: String },
    #[error("environment variable {name}: {source}")]
    InvalidEnv {
        name: String,
        source: WalletKeyParseError,
    },
    #[error("cannot create wallet key file {}: {source}", .path.display())]
    Create { path: PathBuf, source: io::Error },
}

/// Whether [`load_or_create`] made a new key file or read an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileOrigin {
    Created,
    Existing,
}

impl WalletKeySource {
    /// Loads and validates the key.
    pub fn load(&self) -> Result<WalletKey, WalletKeyError> {
        self.load_with(|name| std::env::var_os(name))
    }

    /// [`load`](Self::load) with the environment lookup supplied, so tests need not change the
    /// process environment.
    fn load_with(
        &self,
        env: impl FnOnce(&str) -> Option<OsString>,
    ) -> Result<WalletKey, WalletKeyError> {
        let key = match self {
            Self::File(path) => load_file(path)?,
            Self::Env(name) => load_env(name, env)?,
        };
        tracing::info!(address = %key.address(), source = %self, "wallet key loaded");
        Ok(key)
    }
}

impl fmt::Display for WalletKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

fn load_file(path: &Path) -> Result<WalletKey, WalletKeyError> {
    let read_error = |source| WalletKeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Permissions are checked on the opened file, so they are those of what is read.
    let file = File::open(path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(WalletKeyError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    check_private(path, &metadata)?;

    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(WalletKeyError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let invalid = |source| WalletKeyError::InvalidFile {
        path: path.to_path_buf(),
        source,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid(WalletKeyParseError::NotHex))?;
    if text.trim().is_empty() {
        return Err(WalletKeyError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    WalletKey::from_hex(text).map_err(invalid)
}

#[cfg(unix)]
fn check_private(path: &Path, metadata: &std::fs::Metadata) -> Result<(), WalletKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(WalletKeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), WalletKeyError> {
    Ok(())
}

fn load_env(
    name: &str,
    env: impl FnOnce(&str) -> Option<OsString>,
) -> Result<WalletKey, WalletKeyError> {
    let value = env(name).ok_or_else(|| WalletKeyError::EnvMissing {
        name: name.to_string(),
    })?;
    let invalid = |source| WalletKeyError::InvalidEnv {
        name: name.to_string(),
        source,
    };
    let text = value
        .to_str()
        .ok_or_else(|| invalid(WalletKeyParseError::NotHex))?;
    if text.trim().is_empty() {
        return Err(WalletKeyError::EnvEmpty {
            name: name.to_string(),
        });
    }
    WalletKey::from_hex(text).map_err(invalid)
}

/// Loads the key file at `path`, or, when nothing is there, generates a key and writes it to a
/// new file with mode 0600. An existing file is never overwritten (the check and the creation
/// are one step, `O_EXCL`).
pub fn load_or_create(path: &Path) -> Result<(WalletKey, KeyFileOrigin), WalletKeyError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let key = WalletKeySource::File(path.to_path_buf()).load()?;
            return Ok((key, KeyFileOrigin::Existing));
        }
        Err(source) => {
            return Err(WalletKeyError::Create {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let key = WalletKey::generate();
    let written = file
        .write_all(format!("{}\n", key.secret_hex()).as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(source) = written {
        // A half-written key file would be refused at the next start anyway; don't leave it.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(WalletKeyError::Create {
            path: path.to_path_buf(),
            source,
        });
    }
    tracing::info!(address = %key.address(), path = %path.display(), "wallet key created");
    Ok((key, KeyFileOrigin::Created))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    fn write_key_file(dir: &tempfile::TempDir, contents: &str, mode: u32) -> PathBuf {
        let path = dir.path().join("wallet.key");
        std::fs::write(&path, contents).unwrap();
        set_mode(&path, mode);
        path
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(not(unix))]
    fn set_mode(_path: &Path, _mode: u32) {}

    fn assert_no_key(message: &str) {
        assert!(!message.contains(&KEY[..12]), "key text in: {message}");
    }

    #[test]
    fn a_private_key_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        for (contents, mode) in [
            (format!("{KEY}\n"), 0o600),
            (format!("0x{KEY}"), 0o400),
            (format!("  {}\r\n\n", KEY.to_uppercase()), 0o600),
        ] {
            let path = write_key_file(&dir, &contents, mode);
            let key = WalletKeySource::File(path.clone()).load().unwrap();
            assert_eq!(key.address().to_string(), ADDRESS);
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_open_to_group_or_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o610, 0o601] {
            let path = write_key_file(&dir, KEY, mode);
            let err = WalletKeySource::File(path.clone()).load().unwrap_err();
            assert!(
                matches!(err, WalletKeyError::Permissions { mode: m, .. } if m == mode),
                "{mode:o}: {err}"
            );
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("chmod 600"), "{message}");
            assert!(message.contains(&format!("{mode:04o}")), "{message}");
            assert_no_key(&message);
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.key");
        let err = WalletKeySource::File(path.clone()).load().unwrap_err();
        assert!(
            matches!(&err, WalletKeyError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{err}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn an_empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for contents in ["", " \n\n"] {
            let path = write_key_file(&dir, contents, 0o600);
            let err = WalletKeySource::File(path.clone()).load().unwrap_err();
            assert!(matches!(err, WalletKeyError::EmptyFile { .. }), "{err}");
            assert!(err.to_string().contains("is empty"));
        }
    }

    #[test]
    fn invalid_file_contents_are_refused_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (&KEY[..60], WalletKeyParseError::WrongLength(60)),
            (
                "not a key at all, but a sentence",
                WalletKeyParseError::NotHex,
            ),
            (
                "secret-passphrase-do-not-print",
                WalletKeyParseError::NotHex,
            ),
        ];
        for (contents, expected) in cases {
            let path = write_key_file(&dir, contents, 0o600);
            let err = WalletKeySource::File(path).load().unwrap_err();
            match &err {
                WalletKeyError::InvalidFile { source, .. } => assert_eq!(source, &expected),
                other => panic!("expected InvalidFile, got {other}"),
            }
            let message = err.to_string();
            assert_no_key(&message);
            assert!(!message.contains("passphrase"), "{message}");
        }
        let path = dir.path().join("binary.key");
        std::fs::write(&path, [0xff, 0xfe, 0x00, 0x41]).unwrap();
        set_mode(&path, 0o600);
        let err = WalletKeySource::File(path).load().unwrap_err();
        assert!(matches!(err, WalletKeyError::InvalidFile { .. }), "{err}");
    }

    #[test]
    fn a_huge_file_is_not_read_as_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_key_file(&dir, &KEY.repeat(100), 0o600);
        let err = WalletKeySource::File(path).load().unwrap_err();
        assert!(matches!(err, WalletKeyError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn a_directory_is_not_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = WalletKeySource::File(dir.path().to_path_buf())
            .load()
            .unwrap_err();
        // Opening a directory succeeds on Linux; reading it would not.
        assert!(
            matches!(
                err,
                WalletKeyError::NotAFile { .. } | WalletKeyError::Read { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn the_environment_variable_source_loads_and_refuses() {
        let source = WalletKeySource::Env("HASHROUTER_WALLET_KEY".to_string());
        let key = source
            .load_with(|name| {
                assert_eq!(name, "HASHROUTER_WALLET_KEY");
                Some(OsString::from(format!("0x{KEY}\n")))
            })
            .unwrap();
        assert_eq!(key.address().to_string(), ADDRESS);

        let err = source.load_with(|_| None).unwrap_err();
        assert!(matches!(err, WalletKeyError::EnvMissing { .. }), "{err}");
        assert!(err.to_string().contains("HASHROUTER_WALLET_KEY"));

        let err = source
            .load_with(|_| Some(OsString::from("  ")))
            .unwrap_err();
        assert!(matches!(err, WalletKeyError::EnvEmpty { .. }), "{err}");

        let err = source
            .load_with(|_| Some(OsString::from(&KEY[2..])))
            .unwrap_err();
        assert!(
            matches!(
                err,
                WalletKeyError::InvalidEnv {
                    source: WalletKeyParseError::WrongLength(62),
                    ..
                }
            ),
            "{err}"
        );
        assert_no_key(&err.to_string());
        assert!(!err.to_string().contains(&KEY[2..14]));
    }

    #[test]
    fn the_real_environment_is_read() {
        // A variable every test process has; not a key, so it must be refused as one.
        let err = WalletKeySource::Env("PATH".to_string()).load().unwrap_err();
        assert!(
            matches!(
                err,
                WalletKeyError::InvalidEnv { .. } | WalletKeyError::EnvEmpty { .. }
            ),
            "{err}"
        );
        let err = WalletKeySource::Env("HASHROUTER_TEST_SURELY_UNSET_7f3a".to_string())
            .load()
            .unwrap_err();
        assert!(matches!(err, WalletKeyError::EnvMissing { .. }), "{err}");
    }

    #[test]
    fn load_or_create_creates_once_with_mode_0600_then_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.key");
        let (created, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, KeyFileOrigin::Created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let contents = std::fs::read_to_string(&path).unwrap();
        assert_eq!(contents, format!("{}\n", created.secret_hex()));

        let (loaded, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, KeyFileOrigin::Existing);
        assert_eq!(loaded.address(), created.address());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            contents,
            "not rewritten"
        );
    }

    #[cfg(unix)]
    #[test]
    fn load_or_create_refuses_an_existing_open_file_and_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_key_file(&dir, KEY, 0o644);
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, WalletKeyError::Permissions { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), KEY);
    }

    #[test]
    fn load_or_create_in_a_missing_folder_is_a_create_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-folder").join("wallet.key");
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, WalletKeyError::Create { .. }), "{err}");
        assert!(err.to_string().contains("no-such-folder"));
    }
}
