//! Database files that are not open in the pool: the server's lock beside the live file, and
//! the inspection of a copy (a scheduled backup, or a file about to be restored).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{APPLICATION_ID, DbError, LATEST_VERSION};

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The lock file beside the database: `<db>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive advisory lock on `<db>.lock`, held by `serve` for its whole life (and by
/// `migrate` and `restore` while they work), released when dropped or when the process ends,
/// however it ends.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Takes the lock, or says that another process holds it.
pub fn lock(db: &Path) -> Result<FileLock, DbError> {
    let path = lock_path(db);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        super::private_dir(dir).map_err(|source| DbError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    // Read-only is enough for the lock, and lets the service open a lock file that `root` made
    // when it ran `migrate` or `restore` first; the file holds nothing, so others may read it.
    let file = match File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
            options.open(&path)
        }
        opened => opened,
    }
    .map_err(|source| DbError::LockIo {
        path: path.clone(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(FileLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(DbError::InUse {
            path: db.to_path_buf(),
        }),
        Err(TryLockError::Error(source)) => Err(DbError::LockIo { path, source }),
    }
}

/// What a database file holds, read without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `PRAGMA integrity_check`: "ok", or the first problems found.
    pub integrity: String,
    pub schema_version: u32,
    /// Accounts in the file.
    pub accounts: i64,
}

/// Why a file is not a usable CodexAPI database.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an SQLite database")]
    NotSqlite { path: PathBuf },
    #[error("{path} is an SQLite database of another program")]
    Foreign { path: PathBuf },
    #[error("{path} has schema version {found}, newer than this program knows ({supported})")]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{path} failed its integrity check: {verdict}")]
    Corrupt { path: PathBuf, verdict: String },
    #[error("cannot read {path} as a database: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Opens `path` read-only and checks that it is a sound CodexAPI database this program can
/// use: the SQLite header, our application id and tables, a schema version no newer than ours,
/// and `PRAGMA integrity_check`.
pub fn inspect(path: &Path) -> Result<Inspection, FileError> {
    examine(path, "PRAGMA integrity_check(10)")
}

/// [`inspect`] with `PRAGMA quick_check`, which skips the slower index checks.
pub fn inspect_quick(path: &Path) -> Result<Inspection, FileError> {
    examine(path, "PRAGMA quick_check(10)")
}

fn examine(path: &Path, check: &str) -> Result<Inspection, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut header = [0u8; 16];
    {
        use std::io::Read;
        let mut file = File::open(path).map_err(io)?;
        match file.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(FileError::NotSqlite {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(io(e)),
        }
    }
    if &header != SQLITE_HEADER {
        return Err(FileError::NotSqlite {
            path: path.to_path_buf(),
        });
    }
    let sqlite = |source| FileError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(sqlite)?;
    let ours: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings')
                AND EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users')",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    if app_id != APPLICATION_ID || !ours {
        return Err(FileError::Foreign {
            path: path.to_path_buf(),
        });
    }
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite)?;
    if version > LATEST_VERSION {
        return Err(FileError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: LATEST_VERSION,
        });
    }
    let integrity = integrity_check(&conn, check).map_err(sqlite)?;
    if integrity != "ok" {
        return Err(FileError::Corrupt {
            path: path.to_path_buf(),
            verdict: integrity,
        });
    }
    let accounts: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .map_err(sqlite)?;
    Ok(Inspection {
        integrity,
        schema_version: version,
        accounts,
    })
}

/// The check's lines joined: "ok" or up to ten problems.
fn integrity_check(conn: &Connection, check: &str) -> rusqlite::Result<String> {
    let mut stmt = conn.prepare(check)?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_with_the_current_schema_passes_and_others_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.db");
        let mut conn = Connection::open(&good).unwrap();
        super::super::migrate(&mut conn, &good).unwrap();
        drop(conn);
        let seen = inspect(&good).unwrap();
        assert_eq!(seen.integrity, "ok");
        assert_eq!(seen.schema_version, LATEST_VERSION);

        let text = dir.path().join("notes.db");
        std::fs::write(&text, "not a database at all, just some words").unwrap();
        assert!(matches!(inspect(&text), Err(FileError::NotSqlite { .. })));

        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(matches!(inspect(&other), Err(FileError::Foreign { .. })));

        let newer = dir.path().join("newer.db");
        std::fs::copy(&good, &newer).unwrap();
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        assert!(matches!(inspect(&newer), Err(FileError::TooNew { .. })));
    }

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/codexapi.db");
        let held = lock(&db).unwrap();
        assert!(matches!(lock(&db), Err(DbError::InUse { .. })));
        drop(held);
        lock(&db).unwrap();
    }
}
