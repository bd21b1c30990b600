//! CodexAPI: a self-hosted, privacy-first API gateway for AI coding agents.
//!
//! One process serves the public site, the dashboard, the admin console and the
//! OpenAI/Anthropic-compatible API from one SQLite file and one TOML config file.

pub mod abuse;
pub mod accounts;
pub mod app;
pub mod auth;
pub mod backup;
pub mod billing;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod csv;
pub mod db;
pub mod doctor;
pub mod gateway;
pub mod health;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod money;
pub mod privacy;
pub mod secrets;
pub mod server;
pub mod setup;
pub mod tls;
pub mod translate;
pub mod usage;
pub mod web;

pub use app::build_app;
pub use web::AppState;
