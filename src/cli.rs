//! The command line: `serve`, `migrate`, `backup`, `restore`, `version`, `doctor`,
//! `check-config` and the account, wallet and job commands.
//!
//! One module because each command is a short parse-call-print over a service; the commands read
//! best side by side with their help texts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::billing::service;
use crate::config::Config;
use crate::db::ledger::{self, Kind};
use crate::db::{Db, DbError};
use crate::money::Money;

/// What a command prints for people and scripts to read goes through here: one line on
/// standard output. (Diagnostics go to standard error.) A closed pipe is not an error worth
/// reporting for a line of output.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say_line(format_args!($($arg)*))
    };
}

#[doc(hidden)]
pub fn say_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

#[derive(Debug, Parser)]
#[command(
    name = "codexapi",
    version,
    about = "Self-hosted, privacy-first API gateway for AI coding agents",
    after_help = "Example:\n  codexapi --config /etc/codexapi/config.toml serve"
)]
pub struct Cli {
    /// TOML config file; without one, built-in defaults and CODEXAPI_* variables apply.
    #[arg(long, global = true, env = "CODEXAPI_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the site, dashboard and API until SIGTERM or SIGINT.
    #[command(after_help = "Example:\n  codexapi --config /etc/codexapi/config.toml serve")]
    Serve,
    /// Bring the database to the current schema version (refused while the server runs; it
    /// migrates at start itself).
    #[command(after_help = "Example:\n  codexapi --config /etc/codexapi/config.toml migrate")]
    Migrate,
    /// Write a consistent copy of the database to FILE, also while the server runs.
    #[command(
        after_help = "Example:\n  codexapi backup /var/backups/codexapi/manual-2026-12-01.db"
    )]
    Backup {
        /// Where to write the copy; must not exist yet.
        file: PathBuf,
    },
    /// Put a backup in place of the database: checked first, refused while the server runs;
    /// the replaced database is kept beside it as `<db>.before-restore-<time>`.
    #[command(
        after_help = "Example:\n  systemctl stop codexapi\n  codexapi restore /var/backups/codexapi/codexapi-20261201T030000Z.db\n  systemctl start codexapi\n\nExit status: 0 restored; 65 the file is not a sound CodexAPI database (nothing changed); 66 the file cannot be read; 73 cannot write beside the database; 75 the server is running."
    )]
    Restore {
        /// The backup to restore: a copy made by `codexapi backup` or by the schedule.
        file: PathBuf,
    },
    /// Print the version, the git commit it was built from and the database schema version it
    /// writes.
    #[command(after_help = "Example:\n  codexapi version")]
    Version,
    /// Check the configuration and print the verdict.
    #[command(after_help = "Example:\n  codexapi --config /etc/codexapi/config.toml check-config")]
    CheckConfig,
    /// Check that everything the server needs is in order: config, database, disk, providers,
    /// SMTP, Stripe keys, backups. One line each; exits 1 when a check failed.
    #[command(after_help = "Example:\n  codexapi --config /etc/codexapi/config.toml doctor")]
    Doctor,
    /// Administrators.
    #[command(
        subcommand,
        after_help = "Example:\n  codexapi admin create --email ops@example.com --name Ops"
    )]
    Admin(AdminCommand),
    /// Accounts.
    #[command(
        subcommand,
        after_help = "Example:\n  codexapi user approve --email ada@example.com"
    )]
    User(UserCommand),
    /// API keys.
    #[command(
        subcommand,
        after_help = "Example:\n  codexapi key create --user ada@example.com --name laptop"
    )]
    Key(KeyCommand),
    /// Invite codes, for `accounts.signup = "invite"`.
    #[command(
        subcommand,
        after_help = "Example:\n  codexapi invite create --uses 5 --expires 14"
    )]
    Invite(InviteCommand),
    /// Wallets: grants and corrections.
    #[command(
        subcommand,
        after_help = "Example:\n  codexapi wallet grant --user ada@example.com --amount 25"
    )]
    Wallet(WalletCommand),
    /// Redemption codes that credit a wallet.
    #[command(
        subcommand,
        after_help = "Example:\n  codexapi code create --amount 10 --uses 50"
    )]
    Code(CodeCommand),
    /// Check the database: integrity, and that every balance equals the sum of its ledger.
    #[command(after_help = "Example:\n  codexapi check-db")]
    CheckDb,
    /// The retention job, which the server also runs at start and then daily.
    #[command(subcommand, after_help = "Example:\n  codexapi retention run")]
    Retention(RetentionCommand),
    /// The abuse rules, which the server runs every `abuse.scan_every_secs`.
    #[command(subcommand, after_help = "Example:\n  codexapi abuse scan")]
    Abuse(AbuseCommand),
}

#[derive(Debug, Subcommand)]
pub enum AbuseCommand {
    /// Run the rules now: raise, mail and act on flags as the server would, and print what was
    /// done. Mail waits in the outbox for the server's sender.
    #[command(after_help = "Example:\n  codexapi abuse scan")]
    Scan,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Delete and shorten what is past its retention period now, and print what was done.
    #[command(after_help = "Example:\n  codexapi retention run")]
    Run,
    /// Print the last run's report.
    #[command(after_help = "Example:\n  codexapi retention show")]
    Show,
}

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Credit an account (a grant).
    #[command(
        after_help = "Example:\n  codexapi wallet grant --user ada@example.com --amount 25 --note 'welcome credit'"
    )]
    Grant(WalletArgs),
    /// Correct an account's balance either way (an adjustment; negative amounts debit).
    #[command(
        after_help = "Example:\n  codexapi wallet adjust --user ada@example.com --amount -2.50 --note 'duplicate top-up'"
    )]
    Adjust(WalletArgs),
    /// Show an account's balance and latest ledger rows.
    #[command(after_help = "Example:\n  codexapi wallet show --user ada@example.com")]
    Show {
        /// The user's email address.
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct WalletArgs {
    /// The user's email address.
    #[arg(long)]
    pub user: String,
    /// In the configured currency, e.g. 25 or 12.50.
    #[arg(long, allow_hyphen_values = true)]
    pub amount: String,
    /// Shown to the user in their transaction history.
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CodeCommand {
    /// Create a redemption code and print it.
    #[command(after_help = "Example:\n  codexapi code create --amount 10 --uses 50 --expires 30")]
    Create {
        /// Credit per redemption, in the configured currency.
        #[arg(long)]
        amount: String,
        /// How many accounts may redeem it (each once).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        uses: u32,
        /// Days until it expires; default never.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator account (password from a prompt, or stdin).
    #[command(after_help = "Example:\n  codexapi admin create --email ops@example.com --name Ops")]
    Create(NewUserArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a confirmed account (password from a prompt, or stdin).
    #[command(
        after_help = "Example:\n  codexapi user create --email ada@example.com --name Ada --password-stdin < password.txt"
    )]
    Create {
        #[command(flatten)]
        user: NewUserArgs,
        /// Make it an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Approve an account waiting for approval.
    #[command(after_help = "Example:\n  codexapi user approve --email ada@example.com")]
    Approve {
        #[arg(long)]
        email: String,
    },
    /// Put an account in a tier of `[[tiers]]` (or back in the default one).
    #[command(after_help = "Example:\n  codexapi user tier --email ada@example.com --tier pro")]
    Tier {
        #[arg(long)]
        email: String,
        /// A tier name from the config.
        #[arg(long, conflicts_with = "default", required_unless_present = "default")]
        tier: Option<String>,
        #[arg(long)]
        default: bool,
    },
    /// Print everything stored about an account as JSON, as its owner's download has it.
    #[command(after_help = "Example:\n  codexapi user export --email ada@example.com > ada.json")]
    Export {
        #[arg(long)]
        email: String,
    },
    /// Delete an account as its owner can from the dashboard: personal data goes, ledger and
    /// payments stay detached, and a confirmation is queued for the server to send.
    #[command(after_help = "Example:\n  codexapi user erase --email ada@example.com --yes")]
    Erase {
        #[arg(long)]
        email: String,
        /// Yes, at once and for good.
        #[arg(long)]
        yes: bool,
    },
    /// Set an account's monthly spend cap (or go back to its tier's).
    #[command(after_help = "Example:\n  codexapi user cap --email ada@example.com --amount 100")]
    Cap {
        #[arg(long)]
        email: String,
        /// In the configured currency.
        #[arg(
            long,
            conflicts_with = "tier_cap",
            required_unless_present = "tier_cap"
        )]
        amount: Option<String>,
        #[arg(long)]
        tier_cap: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct NewUserArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key for a user and print it (only the key) on standard output.
    #[command(
        after_help = "Example:\n  codexapi key create --user ada@example.com --name ci --expires 90 --spend-limit 50"
    )]
    Create {
        /// The user's email address.
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// Days until the key stops working; default never.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires: Option<u32>,
        /// The most the key may spend over its life, in the configured currency.
        #[arg(long, value_name = "AMOUNT")]
        spend_limit: Option<String>,
        /// Requests per minute for this key, below its account's tier.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        requests_per_minute: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Create an invite code and print it.
    #[command(after_help = "Example:\n  codexapi invite create --uses 5 --expires 14")]
    Create {
        /// How many accounts it may create.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        uses: u32,
        /// Days until it expires; default never.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires: Option<u32>,
    },
}

/// Why a command failed. Each kind has its own exit status, from the BSD `sysexits`
/// convention, so a script can tell a typo from a broken disk without reading the message.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag, an argument or what was typed is wrong; the message names it.
    #[error("{0}")]
    Input(String),
    /// The database was read and something in it is wrong (`check-db`).
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Serve(#[from] crate::server::ServeError),
    #[error(transparent)]
    Restore(#[from] crate::backup::RestoreError),
    /// `doctor` found a check that failed; its lines said which.
    #[error("{0}")]
    Checks(String),
    #[error("{0}")]
    Internal(String),
}

impl CliError {
    /// The process's exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        const CHECKS: u8 = 1;
        const DATA: u8 = 65; // EX_DATAERR
        const NO_INPUT: u8 = 66; // EX_NOINPUT
        const UNAVAILABLE: u8 = 69; // EX_UNAVAILABLE
        const SOFTWARE: u8 = 70; // EX_SOFTWARE
        const CANT_CREATE: u8 = 73; // EX_CANTCREAT
        const IO: u8 = 74; // EX_IOERR
        const TEMP_FAIL: u8 = 75; // EX_TEMPFAIL
        const CONFIG: u8 = 78; // EX_CONFIG
        fn db(e: &DbError) -> u8 {
            match e {
                DbError::CreateDir { .. }
                | DbError::BackupExists { .. }
                | DbError::BackupIo { .. } => CANT_CREATE,
                DbError::TooNew { .. } | DbError::Foreign { .. } | DbError::NotFound => DATA,
                DbError::InUse { .. } => TEMP_FAIL,
                _ => IO,
            }
        }
        fn restore(e: &RestoreError) -> u8 {
            use crate::db::files::FileError;
            match e {
                RestoreError::Db(e) => db(e),
                RestoreError::Unusable(FileError::Io { .. }) => NO_INPUT,
                RestoreError::Unusable(
                    FileError::NotSqlite { .. }
                    | FileError::Foreign { .. }
                    | FileError::TooNew { .. }
                    | FileError::Corrupt { .. }
                    | FileError::Sqlite { .. },
                ) => DATA,
                RestoreError::Io { .. } => CANT_CREATE,
            }
        }
        use crate::backup::RestoreError;
        use crate::server::ServeError;
        match self {
            CliError::Checks(_) => CHECKS,
            CliError::Restore(e) => restore(e),
            CliError::Input(_) | CliError::Data(_) => DATA,
            CliError::Config(_) | CliError::Serve(ServeError::Config(_)) => CONFIG,
            CliError::Db(e) | CliError::Serve(ServeError::Db(e)) => db(e),
            CliError::Serve(ServeError::Bind { .. }) => UNAVAILABLE,
            CliError::Serve(ServeError::Io(_)) => IO,
            CliError::Serve(ServeError::Start(_)) | CliError::Internal(_) => SOFTWARE,
        }
    }
}

impl From<service::BillingError> for CliError {
    fn from(e: service::BillingError) -> CliError {
        match e {
            service::BillingError::Invalid(message) => CliError::Input(message),
            service::BillingError::Db(e) => CliError::Db(e),
        }
    }
}

impl From<crate::accounts::AccountError> for CliError {
    fn from(e: crate::accounts::AccountError) -> CliError {
        use crate::accounts::AccountError;
        match e {
            AccountError::Db(e) => CliError::Db(e),
            AccountError::Internal(message) => CliError::Internal(message),
            e
            @ (AccountError::Invalid(_) | AccountError::Throttled(_) | AccountError::NotFound) => {
                CliError::Input(e.to_string())
            }
        }
    }
}

impl From<crate::abuse::AbuseError> for CliError {
    fn from(e: crate::abuse::AbuseError) -> CliError {
        use crate::abuse::AbuseError;
        match e {
            AbuseError::Db(e) => CliError::Db(e),
            AbuseError::Account(e) => e.into(),
            e @ (AbuseError::Invalid { .. } | AbuseError::NotFound) => {
                CliError::Input(e.to_string())
            }
        }
    }
}

impl From<rusqlite::Error> for CliError {
    fn from(e: rusqlite::Error) -> CliError {
        CliError::Db(e.into())
    }
}

fn input(message: impl Into<String>) -> CliError {
    CliError::Input(message.into())
}

/// Runs the command; errors are printed as one line on standard error.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Version => {
            version();
            return ExitCode::SUCCESS;
        }
        Command::Doctor => return finish(doctor(cli.config.as_deref())),
        _ => {}
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(CliError::from(e).exit_code());
        }
    };
    let result = match cli.command {
        Command::CheckConfig => {
            say!("config ok");
            Ok(())
        }
        Command::Serve => serve(config, cli.config.as_deref()),
        Command::Migrate => migrate(&config),
        Command::Backup { file } => backup(&config, &file),
        Command::Admin(AdminCommand::Create(args)) => create_user(&config, &args, true),
        Command::User(UserCommand::Create { user, admin }) => create_user(&config, &user, admin),
        Command::User(UserCommand::Approve { email }) => approve_user(&config, &email),
        Command::User(UserCommand::Export { email }) => export_user(&config, &email),
        Command::User(UserCommand::Erase { email, yes }) => erase_user(&config, &email, yes),
        Command::Key(KeyCommand::Create {
            user,
            name,
            expires,
            spend_limit,
            requests_per_minute,
        }) => create_key(
            &config,
            &user,
            &name,
            expires,
            spend_limit.as_deref(),
            requests_per_minute,
        ),
        Command::Invite(InviteCommand::Create { uses, expires }) => {
            create_invite(&config, uses, expires)
        }
        Command::User(UserCommand::Tier {
            email,
            tier,
            default: _,
        }) => set_tier(&config, &email, tier.as_deref()),
        Command::User(UserCommand::Cap {
            email,
            amount,
            tier_cap: _,
        }) => set_cap(&config, &email, amount.as_deref()),
        Command::Wallet(WalletCommand::Grant(args)) => book(&config, &args, Kind::Grant),
        Command::Wallet(WalletCommand::Adjust(args)) => book(&config, &args, Kind::Adjustment),
        Command::Wallet(WalletCommand::Show { user }) => show_wallet(&config, &user),
        Command::Code(CodeCommand::Create {
            amount,
            uses,
            expires,
        }) => create_code(&config, &amount, uses, expires),
        Command::CheckDb => check_db(&config),
        Command::Retention(RetentionCommand::Run) => run_retention(&config),
        Command::Retention(RetentionCommand::Show) => show_retention(&config),
        Command::Abuse(AbuseCommand::Scan) => scan_abuse(&config),
        Command::Restore { file } => restore(&config, &file),
        Command::Version | Command::Doctor => Ok(()),
    };
    finish(result)
}

fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn serve(config: Config, path: Option<&std::path::Path>) -> Result<(), CliError> {
    crate::logging::init(&config.log.level, config.log.format, config.log.flush_ms);
    crate::tls::install_crypto_provider();
    let system = actix_web::rt::System::new();
    let served = system.block_on(crate::server::serve(config, path));
    crate::logging::flush();
    Ok(served?)
}

/// The version, the commit it was built from (`unknown` when built outside a git checkout) and
/// the schema version this build writes.
fn version() {
    say!("codexapi {}", env!("CARGO_PKG_VERSION"));
    say!("commit {}", env!("BUILD_GIT_COMMIT"));
    say!("schema version {}", crate::db::LATEST_VERSION);
}

fn restore(config: &Config, file: &std::path::Path) -> Result<(), CliError> {
    let path = &config.database.path;
    let done = crate::backup::restore(path, file, crate::db::now_ms())?;
    say!(
        "checked {}: integrity {}, schema version {}, {} accounts",
        file.display(),
        done.check.integrity,
        done.check.schema_version,
        done.check.accounts
    );
    match &done.kept {
        Some(kept) => say!("kept the replaced database as {}", kept.display()),
        None => say!("there was no database at {} to keep", path.display()),
    }
    say!("restored {} to {}", file.display(), path.display());
    if done.check.schema_version < crate::db::LATEST_VERSION {
        say!(
            "its schema version {} is migrated to {} at the next start (or by `codexapi migrate`)",
            done.check.schema_version,
            crate::db::LATEST_VERSION
        );
    }
    Ok(())
}

fn doctor(config_path: Option<&std::path::Path>) -> Result<(), CliError> {
    crate::tls::install_crypto_provider();
    let system = actix_web::rt::System::new();
    let report = system.block_on(crate::doctor::run(config_path, std::env::vars()));
    for check in &report {
        say!("{check}");
    }
    let failed = report
        .iter()
        .filter(|c| c.level == crate::doctor::Level::Fail)
        .count();
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::Checks(format!("{failed} check(s) failed")))
    }
}

fn migrate(config: &Config) -> Result<(), CliError> {
    let _lock = crate::db::files::lock(&config.database.path)?;
    let db = Db::open(&config.database, true)?;
    let report = db.migrate()?;
    if report.from == report.to {
        say!(
            "{} is at schema version {}; nothing to do",
            db.path().display(),
            report.to
        );
    } else {
        say!(
            "{} migrated from schema version {} to {}",
            db.path().display(),
            report.from,
            report.to
        );
    }
    Ok(())
}

fn backup(config: &Config, file: &std::path::Path) -> Result<(), CliError> {
    let db = Db::open(&config.database, false)?;
    db.backup(file)?;
    say!("wrote {}", file.display());
    Ok(())
}

/// Opens the database for account commands, bringing it to the current schema first.
fn open_migrated(config: &Config) -> Result<Db, CliError> {
    let db = Db::open(&config.database, true)?;
    db.migrate()?;
    Ok(db)
}

fn read_password(from_stdin: bool) -> Result<String, CliError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| input(format!("cannot read the password from standard input: {e}")))?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| {
        input(format!(
            "cannot read the password (use --password-stdin in scripts): {e}"
        ))
    })?;
    let second = rpassword::prompt_password("Password again: ")
        .map_err(|e| input(format!("cannot read the password: {e}")))?;
    if first != second {
        return Err(input("the passwords differ"));
    }
    Ok(first)
}

fn create_user(config: &Config, args: &NewUserArgs, admin: bool) -> Result<(), CliError> {
    let password = read_password(args.password_stdin)?;
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let user = crate::accounts::ScriptedUser {
        name: &args.name,
        email: &args.email,
        password: &password,
        admin,
        min_length: config.accounts.password_min_length,
        credit: config.billing.welcome_credit(),
    };
    crate::accounts::create_user_blocking(&conn, &user)?;
    let role = if admin { "administrator" } else { "user" };
    eprintln!("created {role} {}", args.email.trim());
    Ok(())
}

fn approve_user(config: &Config, email: &str) -> Result<(), CliError> {
    use crate::db::accounts::{Status, user_by_email};
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let (user, _) = user_by_email(&conn, email.trim())?
        .ok_or_else(|| input(format!("no account uses {}", email.trim())))?;
    if user.status != Status::Pending {
        return Err(input(format!("{} is not waiting for approval", user.email)));
    }
    let mut conn = conn;
    let by = crate::accounts::moderation::By {
        actor: "cli",
        ip: None,
    };
    crate::accounts::moderation::set_status(
        &mut conn,
        &user.id,
        Status::Active,
        "sign-up approved",
        by,
    )?;
    eprintln!("approved {}", user.email);
    Ok(())
}

fn export_user(config: &Config, email: &str) -> Result<(), CliError> {
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let (user, _) = crate::db::accounts::user_by_email(&conn, email.trim())?
        .ok_or_else(|| input(format!("no account uses {}", email.trim())))?;
    let export = crate::accounts::Export {
        generated_at: crate::db::now_ms(),
        tables: crate::db::privacy::personal_data(&conn, &user.id, &user.email)?,
    };
    let json = serde_json::to_string_pretty(&export.to_json(&config.site.name))
        .map_err(|e| CliError::Internal(format!("cannot write the export: {e}")))?;
    say!("{json}");
    Ok(())
}

fn erase_user(config: &Config, email: &str, yes: bool) -> Result<(), CliError> {
    if !yes {
        return Err(input(
            "erasing an account cannot be undone: add --yes to go ahead",
        ));
    }
    let db = open_migrated(config)?;
    let mut conn = db.conn()?;
    let (user, _) = crate::db::accounts::user_by_email(&conn, email.trim())?
        .ok_or_else(|| input(format!("no account uses {}", email.trim())))?;
    let public_url = config.public_base(config.server.listen);
    let actor = crate::accounts::ErasedBy::CommandLine.actor();
    let kept =
        crate::accounts::erase_blocking(&mut conn, config, &public_url, &user, &actor, None)?
            .ok_or_else(|| input(format!("no account uses {}", email.trim())))?;
    eprintln!(
        "erased {}: {} ledger rows and {} payments kept, detached; a confirmation is queued",
        user.email, kept.ledger_rows, kept.payments
    );
    Ok(())
}

fn create_key(
    config: &Config,
    email: &str,
    name: &str,
    expires: Option<u32>,
    spend_limit: Option<&str>,
    requests_per_minute: Option<u32>,
) -> Result<(), CliError> {
    let spend_limit = spend_limit
        .map(|a| parse_amount("--spend-limit", a))
        .transpose()?;
    if spend_limit.is_some_and(|l| l <= Money::ZERO) {
        return Err(input("--spend-limit must be more than zero"));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > crate::accounts::MAX_KEY_NAME_CHARS {
        return Err(input(format!(
            "--name must be 1 to {} characters",
            crate::accounts::MAX_KEY_NAME_CHARS
        )));
    }
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let (user, _) = crate::db::accounts::user_by_email(&conn, email.trim())?
        .ok_or_else(|| input(format!("no account uses {}", email.trim())))?;
    let key = crate::accounts::ValidKey {
        name: name.to_owned(),
        models: None,
        spend_limit: spend_limit.map(Money::micros),
        requests_per_minute,
    };
    let created = crate::accounts::insert_key(&conn, &user.id, &key, expires)?;
    say!("{}", created.key);
    Ok(())
}

fn create_invite(config: &Config, uses: u32, expires: Option<u32>) -> Result<(), CliError> {
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let code = crate::auth::token::short_code();
    let now = crate::db::now_ms();
    crate::db::accounts::insert_invite(
        &conn,
        &crate::auth::token::sha256(&code),
        None,
        i64::from(uses),
        expires.map(|d| now + i64::from(d) * 86_400_000),
        now,
    )?;
    say!("{code}");
    Ok(())
}

fn parse_amount(field: &str, text: &str) -> Result<Money, CliError> {
    text.trim().parse().map_err(|_| {
        input(format!(
            "{field} must be an amount like 25 or 12.50, got {text:?}"
        ))
    })
}

fn set_tier(config: &Config, email: &str, tier: Option<&str>) -> Result<(), CliError> {
    if let Some(name) = tier
        && !config.tiers.iter().any(|t| t.name == name)
    {
        let known: Vec<&str> = config.tiers.iter().map(|t| t.name.as_str()).collect();
        return Err(input(format!(
            "--tier: no tier is named {name:?} (configured: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let user = service::user_id_by_email(&conn, email)?;
    service::set_tier(&conn, &user, tier, crate::db::now_ms())?;
    eprintln!(
        "{} is now in the {} tier",
        email.trim(),
        tier.unwrap_or("default")
    );
    Ok(())
}

fn set_cap(config: &Config, email: &str, amount: Option<&str>) -> Result<(), CliError> {
    let cap = amount.map(|a| parse_amount("--amount", a)).transpose()?;
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let user = service::user_id_by_email(&conn, email)?;
    service::set_monthly_cap(&conn, &user, cap, crate::db::now_ms())?;
    match cap {
        Some(cap) => eprintln!(
            "{} may spend {} a month",
            email.trim(),
            cap.display_in(&config.billing.currency)
        ),
        None => eprintln!("{} has its tier's monthly cap", email.trim()),
    }
    Ok(())
}

fn book(config: &Config, args: &WalletArgs, kind: Kind) -> Result<(), CliError> {
    let amount = parse_amount("--amount", &args.amount)?;
    if kind == Kind::Grant && amount <= Money::ZERO {
        return Err(input(
            "--amount of a grant must be more than zero; use `wallet adjust` to debit",
        ));
    }
    if amount == Money::ZERO {
        return Err(input("--amount must not be zero"));
    }
    let db = open_migrated(config)?;
    let mut conn = db.conn()?;
    let user = service::user_id_by_email(&conn, &args.user)?;
    let balance = service::book(
        &mut conn,
        &ledger::Entry {
            user_id: &user,
            kind,
            amount: amount.micros(),
            reference: None,
            actor: "cli",
            note: args
                .note
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()),
            at: crate::db::now_ms(),
        },
    )?;
    let currency = &config.billing.currency;
    eprintln!(
        "{} {}: balance now {}",
        kind.name(),
        amount.display_in(currency),
        Money::from_micros(balance).display_in(currency)
    );
    Ok(())
}

fn show_wallet(config: &Config, email: &str) -> Result<(), CliError> {
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let user = service::user_id_by_email(&conn, email)?;
    let balance = crate::db::billing::wallet(&conn, &user)?.balance;
    let currency = &config.billing.currency;
    say!(
        "balance {}",
        Money::from_micros(balance).display_in(currency)
    );
    for row in ledger::for_user(&conn, &user, None, 20)? {
        say!(
            "{}\t{}\t{}\t{}",
            crate::clock::format_ms(row.at),
            row.kind,
            Money::from_micros(row.amount).display_in(currency),
            Money::from_micros(row.balance_after).display_in(currency)
        );
    }
    Ok(())
}

fn create_code(
    config: &Config,
    amount: &str,
    uses: u32,
    expires: Option<u32>,
) -> Result<(), CliError> {
    let amount = parse_amount("--amount", amount)?;
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let now = crate::db::now_ms();
    let code = service::create_code(
        &conn,
        &service::NewCode {
            amount,
            max_uses: uses,
            expires_at: expires.map(|d| now + i64::from(d) * 86_400_000),
            created_by: "cli".to_owned(),
        },
        now,
    )?;
    say!("{code}");
    Ok(())
}

fn check_db(config: &Config) -> Result<(), CliError> {
    let db = open_migrated(config)?;
    let conn = db.conn()?;
    let integrity = crate::db::quick_check(&conn)?;
    let mut problems = Vec::new();
    if integrity != "ok" {
        problems.push(format!("integrity: {integrity}"));
    }
    problems.extend(ledger::check(&conn)?);
    if problems.is_empty() {
        let (accounts, rows) = crate::db::size_figures(&conn)?;
        say!(
            "database ok: {accounts} accounts, {rows} ledger rows, every balance matches its ledger"
        );
        Ok(())
    } else {
        for problem in &problems {
            say!("{problem}");
        }
        Err(CliError::Data(format!(
            "{} problem(s) found",
            problems.len()
        )))
    }
}

fn run_retention(config: &Config) -> Result<(), CliError> {
    let db = open_migrated(config)?;
    let report = crate::privacy::retention::run(&db, &config.privacy, crate::db::now_ms())?;
    say!("retention job done: {}", report.summary());
    Ok(())
}

fn scan_abuse(config: &Config) -> Result<(), CliError> {
    let db = open_migrated(config)?;
    let blocklist = crate::abuse::Blocklist::default();
    let public_url = config.public_base(config.server.listen);
    let ctx = crate::mail::MailContext {
        site_name: &config.site.name,
        public_url: &public_url,
        contact_email: config.site.contact_email.as_deref(),
    };
    let report = crate::abuse::detector::scan(&db, config, &blocklist, &ctx, crate::db::now_ms())?;
    say!("abuse rules run: {}", report.summary());
    Ok(())
}

fn show_retention(config: &Config) -> Result<(), CliError> {
    let db = open_migrated(config)?;
    match crate::privacy::retention::last_run(&*db.conn()?)? {
        Some(report) => say!(
            "last run {}: {}",
            crate::clock::format_ms(report.at),
            report.summary()
        ),
        None => say!("the retention job has not run on this database yet"),
    }
    Ok(())
}
