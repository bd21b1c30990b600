//! The SQLite database: a pool of tuned connections, schema migrations and online backup.
//!
//! Every query runs on a blocking thread through [`Db::run`], never on an async worker, and at
//! most `pool_size` of them run at once.

pub mod abuse;
pub mod accounts;
pub mod analytics;
pub mod audit;
pub mod billing;
pub mod files;
pub mod ledger;
mod migrate;
pub mod notices;
pub mod outbox;
pub mod privacy;
pub mod retention;
pub mod rollup;
pub mod settings;
pub mod usage;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

use crate::config::{DatabaseConfig, Synchronous};

pub use migrate::{LATEST_VERSION, MigrationReport, migrate, schema_version};

pub use crate::clock::now_ms;

/// `PRAGMA application_id` of a CodexAPI database ("CXAP").
pub const APPLICATION_ID: i32 = 0x4358_4150;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database connection unavailable: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("cannot create {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} has schema version {found}, newer than this program knows ({supported}); run a newer CodexAPI or restore a backup"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "cannot open {path} for writing ({source}); the server writes the file and, beside it, its -wal and -shm files, so the directory must be writable"
    )]
    Unwritable {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("no such record")]
    NotFound,
    #[error("{path} is not a CodexAPI database")]
    Foreign { path: PathBuf },
    #[error("{path} has not been created yet; run `codexapi migrate` or `codexapi serve` first")]
    Missing { path: PathBuf },
    #[error("{path} already exists; choose a new file name")]
    BackupExists { path: PathBuf },
    #[error("cannot write the backup {path}: {source}")]
    BackupIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the database stayed busy; try the backup again")]
    BackupBusy,
    #[error("the backup copy failed its integrity check: {0}")]
    BackupCorrupt(String),
    #[error("the database task stopped unexpectedly")]
    TaskFailed,
    #[error(
        "{path} is in use by a running `codexapi serve` (or another migrate or restore); stop it first"
    )]
    InUse { path: PathBuf },
    #[error("cannot use the lock file {path}: {source}")]
    LockIo {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DbError {
    /// The database cannot be used for now (locked by another process, full, read-only, out of
    /// connections), as opposed to a fault in the request or the program: worth a 503 and a
    /// retry.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            DbError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::DiskFull
                        | ErrorCode::ReadOnly
                        | ErrorCode::CannotOpen
                        | ErrorCode::SystemIoFailure
                )
            ),
            DbError::Pool(_) => true,
            _ => false,
        }
    }
}

/// A pool of connections to one SQLite file.
#[derive(Clone)]
pub struct Db {
    pool: Pool<SqliteConnectionManager>,
    permits: Arc<Semaphore>,
    path: PathBuf,
    busy_timeout: Duration,
    usage_synchronous: Synchronous,
}

/// How the server's connections open the file: an existing one, for reading and writing, each
/// connection used by one thread at a time.
const OPEN_FLAGS: OpenFlags =
    OpenFlags::SQLITE_OPEN_READ_WRITE.union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

/// Per-connection settings; `journal_mode` is a property of the file and set once in [`Db::open`].
fn configure_connection(
    conn: &mut Connection,
    busy_timeout: Duration,
    synchronous: Synchronous,
) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "secure_delete", true)?;
    conn.pragma_update(
        None,
        "synchronous",
        match synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        },
    )?;
    Ok(())
}

impl Db {
    /// Opens (and, with `create`, creates) the file, switches it to WAL and checks that it is ours.
    /// Migrations are left to the caller.
    pub fn open(config: &DatabaseConfig, create: bool) -> Result<Db, DbError> {
        let path = config.path.clone();
        if !create && !path.exists() {
            return Err(DbError::Missing { path });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_dir(dir).map_err(|source| DbError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // SQLite gives the -wal and -shm files the main file's mode: 0600 covers all three.
        private_file(&path).map_err(|source| DbError::CreateDir {
            path: path.clone(),
            source,
        })?;

        {
            let unwritable = |source: rusqlite::Error| DbError::Unwritable {
                path: path.clone(),
                source,
            };
            let conn = Connection::open(&path).map_err(unwritable)?;
            // Reading a WAL database creates its -shm file: a directory that cannot be written
            // fails here already.
            check_identity(&conn, &path).map_err(|e| match e {
                DbError::Sqlite(source)
                    if source.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen) =>
                {
                    unwritable(source)
                }
                e => e,
            })?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(unwritable)?;
        }

        let busy_timeout = Duration::from_millis(config.busy_timeout_ms);
        let synchronous = config.synchronous;
        let manager = SqliteConnectionManager::file(&path)
            .with_flags(OPEN_FLAGS)
            .with_init(move |conn| configure_connection(conn, busy_timeout, synchronous));
        let pool = Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(1))
            .connection_timeout(busy_timeout.max(Duration::from_secs(5)))
            .build(manager)?;
        // A file the server could read but not write fails now, with its path, rather than at
        // the first request.
        let probe = pool
            .get()?
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(|source| DbError::Unwritable {
                path: path.clone(),
                source,
            });
        probe?;
        Ok(Db {
            pool,
            permits: Arc::new(Semaphore::new(config.pool_size as usize)),
            path,
            busy_timeout,
            usage_synchronous: config.usage_synchronous,
        })
    }

    /// A connection of the usage writer's own, outside the pool, with
    /// `database.usage_synchronous` in place of `database.synchronous`. In WAL mode every later
    /// `full` commit makes the earlier ones durable too.
    pub fn usage_writer_conn(&self) -> Result<Connection, DbError> {
        let mut conn = Connection::open_with_flags(&self.path, OPEN_FLAGS)?;
        configure_connection(&mut conn, self.busy_timeout, self.usage_synchronous)?;
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection for synchronous callers (the command line, background threads).
    pub fn conn(&self) -> Result<PooledConnection<SqliteConnectionManager>, DbError> {
        Ok(self.pool.get()?)
    }

    /// Runs `work` with a connection on a blocking thread.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| DbError::TaskFailed)?;
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|_| DbError::TaskFailed)?
    }

    /// Applies pending migrations.
    pub fn migrate(&self) -> Result<MigrationReport, DbError> {
        let mut conn = self.conn()?;
        migrate(&mut conn, &self.path)
    }

    /// Folds the write-ahead log back into the main file; called once at shutdown.
    pub fn checkpoint(&self) -> Result<(), DbError> {
        let conn = self.conn()?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        conn.execute_batch("PRAGMA optimize")?;
        Ok(())
    }

    /// Writes a consistent copy of the live database to `dest` with SQLite's online backup.
    /// The copy is written beside `dest` first and renamed into place once complete.
    pub fn backup(&self, dest: &Path) -> Result<(), DbError> {
        if dest.exists() {
            return Err(DbError::BackupExists {
                path: dest.to_path_buf(),
            });
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);

        let src = self.conn()?;
        let result = (|| {
            private_file(&partial).map_err(|source| DbError::BackupIo {
                path: partial.clone(),
                source,
            })?;
            let mut copy = Connection::open(&partial)?;
            {
                use rusqlite::backup::{Backup, StepResult};
                let backup = Backup::new(&src, &mut copy)?;
                // All pages in one step (-1): one read transaction, so the copy is one moment's
                // state. WAL readers are never blocked by the server's writers; a checkpoint may
                // hold a lock for a moment, so retry for a bounded while.
                let mut attempts = 0;
                loop {
                    match backup.step(-1)? {
                        StepResult::Done => break,
                        StepResult::More | StepResult::Busy | StepResult::Locked
                            if attempts < 200 =>
                        {
                            attempts += 1;
                            std::thread::sleep(Duration::from_millis(25));
                        }
                        _ => return Err(DbError::BackupBusy),
                    }
                }
            }
            // The copy stands alone: no -wal file beside it.
            copy.pragma_update(None, "journal_mode", "DELETE")?;
            let verdict = quick_check(&copy)?;
            if verdict != "ok" {
                return Err(DbError::BackupCorrupt(verdict));
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, dest).map_err(|source| DbError::BackupIo {
            path: dest.to_path_buf(),
            source,
        })?;
        // For the admin console: when the last good copy was made. The copy is made whatever
        // this says.
        let note = format!("{}", dest.display());
        if let Err(e) = settings::set(&src, LAST_BACKUP_KEY, &note, now_ms()) {
            tracing::debug!("the backup is not noted in the database: {e}");
        }
        Ok(())
    }
}

/// The `settings` key of the last backup: its path, and when (the row's `updated_at`).
pub const LAST_BACKUP_KEY: &str = "backup.last";

/// Begins a transaction that will write, taking the write lock at once.
///
/// A deferred transaction that reads and then writes fails with `SQLITE_BUSY` at once, whatever
/// the busy timeout, when another connection wrote in between (its snapshot is stale). Taking the
/// lock first makes it wait its turn instead.
pub fn write(conn: &mut Connection) -> Result<Transaction<'_>, DbError> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

/// Creates `dir` (and its parents) if missing; a directory made here is its owner's alone (0700).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` empty if missing, readable and writable by its owner only (0600); an existing
/// file keeps the mode its operator gave it.
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Folds the write-ahead log into the file and empties it; false when a reader was in the way
/// and the log is left as it is, for the next checkpoint.
pub fn fold_log(conn: &Connection) -> Result<bool, DbError> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
}

/// Whether the database answers: a trivial query.
pub fn ping(conn: &Connection) -> Result<(), DbError> {
    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}

/// SQLite's own check of the file: `ok`, or what is wrong.
pub fn quick_check(conn: &Connection) -> Result<String, DbError> {
    Ok(conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?)
}

/// How many accounts and ledger rows the file holds.
pub fn size_figures(conn: &Connection) -> Result<(i64, i64), DbError> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM ledger)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Refuses files that belong to another program.
fn check_identity(conn: &Connection, path: &Path) -> Result<(), DbError> {
    let foreign = || DbError::Foreign {
        path: path.to_path_buf(),
    };
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                foreign()
            }
            e => DbError::Sqlite(e),
        })?;
    let has_tables: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table')",
        [],
        |r| r.get(0),
    )?;
    match app_id {
        APPLICATION_ID => Ok(()),
        0 if !has_tables => Ok(()),
        _ => Err(foreign()),
    }
}

/// An in-memory database with the current schema and a user for each id (`{id}@example.test`).
#[cfg(test)]
pub(crate) fn test_db(user_ids: &[&str]) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("in-memory database");
    conn.execute_batch(include_str!("../../schema.sql"))
        .expect("schema");
    for id in user_ids {
        conn.execute(
            "INSERT INTO users (id, email, name, password_hash, created_at, updated_at)
             VALUES (?1, ?1 || '@example.test', 'A', 'x', 0, 0)",
            [id],
        )
        .expect("user");
    }
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_connections() -> (tempfile::TempDir, Connection, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let open = || {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch("PRAGMA journal_mode = WAL;")
                .expect("wal");
            conn
        };
        let a = open();
        a.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (0);")
            .expect("table");
        let b = open();
        b.busy_timeout(Duration::ZERO).expect("no waiting");
        (dir, a, b)
    }

    #[test]
    fn a_deferred_read_then_write_fails_when_another_connection_wrote_between() {
        let (_dir, mut a, b) = two_connections();
        let tx = a.transaction().expect("begin");
        let _: i64 = tx
            .query_row("SELECT n FROM t", [], |r| r.get(0))
            .expect("read");
        b.execute("UPDATE t SET n = n + 1", [])
            .expect("other write");
        let err = tx.execute("UPDATE t SET n = n + 1", []).unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_new_database_and_its_directory_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = DatabaseConfig {
            path: dir.path().join("data/inner/codexapi.db"),
            ..DatabaseConfig::default()
        };
        let db = Db::open(&config, true).expect("open");
        db.migrate().expect("migrate");
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("data/inner")), 0o700);
        assert_eq!(mode(&config.path), 0o600);
        let wal = config.path.with_extension("db-wal");
        assert!(wal.exists());
        assert_eq!(mode(&wal), 0o600);
        let copy = dir.path().join("copy.db");
        db.backup(&copy).expect("backup");
        assert_eq!(mode(&copy), 0o600);
    }

    #[test]
    fn the_usage_writer_commits_with_its_own_synchronous_setting_and_the_pool_with_the_other() {
        let dir = tempfile::tempdir().expect("temp dir");
        let synchronous = |conn: &Connection| -> i64 {
            conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
                .expect("pragma")
        };
        // SQLite's numbers: 1 is NORMAL, 2 is FULL.
        for (pool, usage, expected) in [
            (Synchronous::Full, Synchronous::Normal, (2, 1)),
            (Synchronous::Normal, Synchronous::Full, (1, 2)),
        ] {
            let config = DatabaseConfig {
                path: dir.path().join(format!("{pool:?}.db")),
                synchronous: pool,
                usage_synchronous: usage,
                ..DatabaseConfig::default()
            };
            let db = Db::open(&config, true).expect("open");
            let writer = db.usage_writer_conn().expect("writer's connection");
            let pooled = db.conn().expect("pooled");
            assert_eq!((synchronous(&pooled), synchronous(&writer)), expected);
            let foreign_keys: bool = writer
                .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
                .expect("pragma");
            assert!(
                foreign_keys,
                "the writer's connection is set up like the others"
            );
        }
    }

    #[test]
    fn a_write_transaction_holds_the_lock_from_its_start() {
        let (_dir, mut a, b) = two_connections();
        let tx = write(&mut a).expect("begin");
        let n: i64 = tx
            .query_row("SELECT n FROM t", [], |r| r.get(0))
            .expect("read");
        let refused = b.execute("UPDATE t SET n = n + 10", []).unwrap_err();
        assert_eq!(
            refused.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        tx.execute("UPDATE t SET n = ?1", [n + 1])
            .expect("own write");
        tx.commit().expect("commit");
        b.execute("UPDATE t SET n = n + 10", [])
            .expect("the other writer's turn");
        let n: i64 = b
            .query_row("SELECT n FROM t", [], |r| r.get(0))
            .expect("read");
        assert_eq!(n, 11);
    }
}
