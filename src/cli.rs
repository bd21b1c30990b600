//! The command line: `serve`, `migrate`, `backup` and `check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db::Db;

#[derive(Debug, Parser)]
#[command(
    name = "codexapi",
    version,
    about = "Self-hosted, privacy-first API gateway for AI coding agents"
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
    Serve,
    /// Bring the database to the current schema version.
    Migrate,
    /// Write a consistent copy of the database to FILE, also while the server runs.
    Backup {
        /// Where to write the copy; must not exist yet.
        file: PathBuf,
    },
    /// Check the configuration and print the verdict.
    CheckConfig,
}

/// Runs the command; errors are printed as one line on standard error.
pub fn run(cli: Cli) -> ExitCode {
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::CheckConfig => {
            println!("config ok");
            Ok(())
        }
        Command::Serve => serve(config),
        Command::Migrate => migrate(&config),
        Command::Backup { file } => backup(&config, &file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> Result<(), String> {
    crate::logging::init(&config.log.level);
    crate::tls::install_crypto_provider();
    let system = actix_web::rt::System::new();
    system
        .block_on(crate::server::serve(config))
        .map_err(|e| e.to_string())
}

fn migrate(config: &Config) -> Result<(), String> {
    let db = Db::open(&config.database, true).map_err(|e| e.to_string())?;
    let report = db.migrate().map_err(|e| e.to_string())?;
    if report.from == report.to {
        println!(
            "{} is at schema version {}; nothing to do",
            db.path().display(),
            report.to
        );
    } else {
        println!(
            "{} migrated from schema version {} to {}",
            db.path().display(),
            report.from,
            report.to
        );
    }
    Ok(())
}

fn backup(config: &Config, file: &std::path::Path) -> Result<(), String> {
    let db = Db::open(&config.database, false).map_err(|e| e.to_string())?;
    db.backup(file).map_err(|e| e.to_string())?;
    println!("wrote {}", file.display());
    Ok(())
}
