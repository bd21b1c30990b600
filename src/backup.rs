//! Backups and restore: the scheduled copies (their names, the check of each, rotation) and
//! putting a copy back in place of the live database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::config::BackupConfig;
use crate::db::files::{self, FileError, Inspection};
use crate::db::{Db, DbError, LATEST_VERSION};

const PREFIX: &str = "codexapi-";
const SUFFIX: &str = ".db";
const STAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// The name of a scheduled copy made at `at_ms`: `codexapi-YYYYMMDDTHHMMSSZ.db`.
pub fn file_name(at_ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let stamp = at
        .format(STAMP)
        .unwrap_or_else(|_| "19700101T000000Z".to_owned());
    format!("{PREFIX}{stamp}{SUFFIX}")
}

/// When the copy named `name` was made (unix ms), or None for any other file.
pub fn parse_name(name: &str) -> Option<i64> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if stamp.len() != 16 {
        return None;
    }
    let at = time::PrimitiveDateTime::parse(stamp, STAMP).ok()?;
    Some(at.assume_utc().unix_timestamp() * 1000)
}

/// One scheduled copy in the backup folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub path: PathBuf,
    /// When it was made, from its name (unix ms).
    pub at: i64,
}

/// The scheduled copies in `dir`, newest first; other files are not looked at. A missing folder
/// holds none.
pub fn copies(dir: &Path) -> std::io::Result<Vec<Copy>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(at) = name.to_str().and_then(parse_name) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            found.push(Copy {
                path: entry.path(),
                at,
            });
        }
    }
    found.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.path.cmp(&a.path)));
    Ok(found)
}

/// How long until the next scheduled copy is due: none while the newest is younger than
/// `every_hours`, at once when there is none or it is older.
pub fn next_due(config: &BackupConfig, newest: Option<i64>, now_ms: i64) -> Duration {
    let every = i64::from(config.every_hours) * 3_600_000;
    match newest {
        Some(at) if at <= now_ms && now_ms - at < every => {
            Duration::from_millis(u64::try_from(every - (now_ms - at)).unwrap_or(0))
        }
        _ => Duration::ZERO,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the copy {path} failed its check, so it was removed: {reason}")]
    BadCopy { path: PathBuf, reason: String },
}

/// What one scheduled run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub path: PathBuf,
    pub bytes: u64,
    pub check: Inspection,
    /// Older copies deleted beyond `keep`.
    pub removed: Vec<PathBuf>,
}

impl Report {
    /// The run's log line.
    pub fn summary(&self) -> String {
        format!(
            "wrote {} ({} bytes; integrity {}, schema version {}); {} older cop{} removed",
            self.path.display(),
            self.bytes,
            self.check.integrity,
            self.check.schema_version,
            self.removed.len(),
            if self.removed.len() == 1 { "y" } else { "ies" }
        )
    }
}

/// One scheduled backup: a copy into `dir` named after `now_ms` (written under a temporary name
/// and renamed), checked read-only (integrity, current schema version), then the oldest copies
/// beyond `keep` deleted. A copy that fails its check is removed and the older ones stay.
pub fn run(db: &Db, dir: &Path, keep: u32, now_ms: i64) -> Result<Report, BackupError> {
    crate::db::private_dir(dir).map_err(|source| BackupError::Io {
        what: "cannot create the backup folder",
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(file_name(now_ms));
    db.backup(&path)?;
    let checked = match files::inspect(&path) {
        Ok(check) if check.schema_version == LATEST_VERSION => Ok(check),
        Ok(check) => Err(format!(
            "schema version {}, not the current {LATEST_VERSION}",
            check.schema_version
        )),
        Err(e) => Err(e.to_string()),
    };
    let check = match checked {
        Ok(check) => check,
        Err(reason) => {
            let _ = std::fs::remove_file(&path);
            return Err(BackupError::BadCopy { path, reason });
        }
    };
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let list = copies(dir).map_err(|source| BackupError::Io {
        what: "cannot list the backup folder",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut removed = Vec::new();
    for old in list.into_iter().filter(|c| c.path != path).skip(
        usize::try_from(keep)
            .unwrap_or(usize::MAX)
            .saturating_sub(1),
    ) {
        match std::fs::remove_file(&old.path) {
            Ok(()) => removed.push(old.path),
            Err(e) => tracing::warn!("cannot delete the old backup {}: {e}", old.path.display()),
        }
    }
    Ok(Report {
        path,
        bytes,
        check,
        removed,
    })
}

/// The scheduled backups `serve` runs when `backup.dir` is set: one shortly after start when the
/// newest copy is older than `every_hours` (or there is none), then every `every_hours`. A
/// failed run is logged and tried again after an hour at most.
pub async fn schedule(db: Db, config: BackupConfig) {
    let Some(dir) = config.dir.clone() else {
        return;
    };
    loop {
        let newest = copies(&dir).ok().and_then(|c| c.first().map(|c| c.at));
        let wait = next_due(&config, newest, crate::clock::now_ms());
        tokio::time::sleep(wait).await;
        let (job_db, job_dir, keep) = (db.clone(), dir.clone(), config.keep);
        let outcome = tokio::task::spawn_blocking(move || {
            run(&job_db, &job_dir, keep, crate::clock::now_ms())
        })
        .await;
        let failed = match outcome {
            Ok(Ok(report)) => {
                tracing::info!("backup: {}", report.summary());
                false
            }
            Ok(Err(e)) => {
                tracing::error!("backup failed: {e}; the older copies are kept");
                true
            }
            Err(_) => {
                tracing::error!("backup stopped unexpectedly; the older copies are kept");
                true
            }
        };
        if failed {
            let retry = Duration::from_secs(3600)
                .min(Duration::from_secs(u64::from(config.every_hours) * 3600));
            tokio::time::sleep(retry).await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}; nothing was changed")]
    Unusable(#[from] FileError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub check: Inspection,
    /// Where the database that was replaced now is, when there was one.
    pub kept: Option<PathBuf>,
}

/// Puts the copy `file` in place of the database at `db_path`, after checking it
/// ([`files::inspect`]); refused while the server (or another restore) holds the lock. The
/// database it replaces is kept beside it as `<db>.before-restore-<time>` (with its -wal file
/// when it had one); the copy goes in under a temporary name in the same folder, is synced, and
/// renamed into place. A copy with an older schema is migrated at the next start.
pub fn restore(db_path: &Path, file: &Path, now_ms: i64) -> Result<Restored, RestoreError> {
    let _lock = files::lock(db_path)?;
    let check = files::inspect(file)?;
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Io { what, path, source }
    };
    let dir = match db_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::db::private_dir(&dir).map_err(io("cannot create", &dir))?;

    let with = |path: &Path, suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let temp = with(db_path, ".restoring");
    let _ = std::fs::remove_file(&temp);
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&temp).map_err(io("cannot create", &temp))?;
        // Run as root for a service's database, the copy keeps the owner of the file it
        // replaces (or of its folder), so the service can still open it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let owner = std::fs::metadata(db_path).or_else(|_| std::fs::metadata(&dir));
            if let Ok(owner) = owner
                && let Err(e) =
                    std::os::unix::fs::fchown(&out, Some(owner.uid()), Some(owner.gid()))
                && e.kind() != std::io::ErrorKind::PermissionDenied
            {
                tracing::debug!("cannot give {} its owner: {e}", temp.display());
            }
        }
        let copied = std::fs::File::open(file)
            .and_then(|mut input| std::io::copy(&mut input, &mut out))
            .and_then(|_| out.flush())
            .and_then(|()| out.sync_all());
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&temp);
            return Err(io("cannot write", &temp)(e));
        }
    }

    let mut kept = None;
    if db_path.exists() {
        let stamp = file_name(now_ms);
        let stamp = stamp
            .trim_start_matches(PREFIX)
            .trim_end_matches(SUFFIX)
            .to_owned();
        let aside = with(db_path, &format!(".before-restore-{stamp}"));
        std::fs::rename(db_path, &aside).map_err(io("cannot move aside", db_path))?;
        // The log belongs to the file it was written for: it goes along under the matching name.
        for suffix in ["-wal", "-shm"] {
            let log = with(db_path, suffix);
            if log.exists() {
                std::fs::rename(&log, with(&aside, suffix))
                    .map_err(io("cannot move aside", &log))?;
            }
        }
        kept = Some(aside);
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with(db_path, suffix));
    }
    std::fs::rename(&temp, db_path).map_err(io("cannot rename into place", &temp))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Restored { check, kept })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_time_and_nothing_else_matches() {
        let at = 1_796_154_215_000; // 2026-12-01T19:43:35Z
        assert_eq!(file_name(at), "codexapi-20261201T194335Z.db");
        assert_eq!(parse_name(&file_name(at)), Some(at));
        for other in [
            "codexapi-20261201T194335Z.db.partial",
            "codexapi-20261201T194335.db",
            "codexapi-2026120T194335Z.db",
            "codexapi.db",
            "notes-20261201T194335Z.db",
            "codexapi-20261341T194335Z.db",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_copy_is_due_at_once_without_a_recent_one() {
        let config = BackupConfig {
            every_hours: 2,
            ..BackupConfig::default()
        };
        let now = 10 * 3_600_000;
        assert_eq!(next_due(&config, None, now), Duration::ZERO);
        assert_eq!(
            next_due(&config, Some(now - 3 * 3_600_000), now),
            Duration::ZERO
        );
        assert_eq!(
            next_due(&config, Some(now - 3_600_000), now),
            Duration::from_secs(3600)
        );
        // A name from the future (a clock set back) does not hold backups off.
        assert_eq!(next_due(&config, Some(now + 60_000), now), Duration::ZERO);
    }

    /// A migrated database in a new temporary folder, with its settings.
    fn migrated() -> (tempfile::TempDir, crate::config::DatabaseConfig, Db) {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::DatabaseConfig {
            path: dir.path().join("data/codexapi.db"),
            ..crate::config::DatabaseConfig::default()
        };
        let db = Db::open(&config, true).unwrap();
        db.migrate().unwrap();
        (dir, config, db)
    }

    #[test]
    fn a_run_keeps_the_newest_copies_and_leaves_other_files_alone() {
        let (dir, _, db) = migrated();
        let backups = dir.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let day = 86_400_000;
        let now = 1_796_154_215_000;
        for n in 1..=4 {
            std::fs::write(backups.join(file_name(now - n * day)), "old").unwrap();
        }
        std::fs::write(backups.join("notes.txt"), "mine").unwrap();

        let report = run(&db, &backups, 3, now).unwrap();
        assert_eq!(report.check.integrity, "ok");
        assert_eq!(report.check.schema_version, LATEST_VERSION);
        assert_eq!(report.removed.len(), 2);
        let left: Vec<i64> = copies(&backups).unwrap().iter().map(|c| c.at).collect();
        assert_eq!(left, vec![now, now - day, now - 2 * day]);
        assert!(backups.join("notes.txt").exists());
    }

    #[test]
    fn a_restore_checks_the_copy_and_keeps_the_replaced_database() {
        let (dir, config, db) = migrated();
        let copy = dir.path().join("copy.db");
        db.backup(&copy).unwrap();
        drop(db);

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, "SQLite format 3\0 and then nonsense").unwrap();
        assert!(matches!(
            restore(&config.path, &junk, 0),
            Err(RestoreError::Unusable(_))
        ));
        assert!(config.path.exists());

        let held = files::lock(&config.path).unwrap();
        assert!(matches!(
            restore(&config.path, &copy, 0),
            Err(RestoreError::Db(DbError::InUse { .. }))
        ));
        drop(held);

        let done = restore(&config.path, &copy, 1_796_154_215_000).unwrap();
        let kept = done.kept.unwrap();
        assert!(kept.ends_with("codexapi.db.before-restore-20261201T194335Z"));
        assert!(kept.exists());
        assert!(!dir.path().join("data/codexapi.db-wal").exists());
        assert_eq!(files::inspect(&config.path).unwrap().integrity, "ok");
    }
}
