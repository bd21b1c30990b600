//! `codexapi serve`: bind the listeners (HTTP, or HTTPS plus an optional redirecting HTTP
//! listener), run until SIGTERM or SIGINT, then drain in-flight requests and close the database.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::app::build_app;
use crate::config::{Config, ConfigError, Live};
use crate::db::{Db, DbError, accounts, now_ms};
use crate::gateway::Gateway;
use crate::mail::Mailer;
use crate::web::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Start(String),
}

/// Says how requests are paid for, and where credit comes from when that is not obvious.
fn log_billing(config: &Config) {
    use crate::config::BillingMode;
    let currency = &config.billing.currency;
    match config.billing.mode {
        BillingMode::Prepaid if config.stripe.enabled() => {
            tracing::info!("billing: prepaid wallets in {currency}; card top-ups through Stripe");
        }
        BillingMode::Prepaid => tracing::info!(
            "billing: prepaid wallets in {currency}; no [stripe], so credit comes from \
             `codexapi wallet grant`, redemption codes or billing.signup_credit"
        ),
        BillingMode::Budget => tracing::info!(
            "billing: monthly budgets in {currency} (`codexapi user cap`, or a tier's monthly_spend_cap)"
        ),
        BillingMode::Off => {
            tracing::info!("billing: off; usage is metered and priced, not charged")
        }
    }
}

/// Runs the server until a stop signal; returns once everything is flushed and closed.
/// `path` is the file `config` came from, which a reload (SIGHUP, the admin console) reads again.
pub async fn serve(config: Config, path: Option<&Path>) -> Result<(), ServeError> {
    let live = Arc::new(Live::new(config, path));
    // What is set up once, at start, comes from this first configuration.
    let config = live.get();
    let db = Db::open(&config.database, true)?;
    // Held until the process ends: `restore` and `migrate` refuse while it is. Taken after the
    // open, which names an unwritable folder best.
    let _lock = crate::db::files::lock(db.path())?;
    let report = db.migrate()?;
    if report.from != report.to {
        tracing::info!(
            "database {} migrated from schema version {} to {}",
            db.path().display(),
            report.from,
            report.to
        );
    }

    let listener = TcpListener::bind(config.server.listen).map_err(|source| ServeError::Bind {
        addr: config.server.listen,
        source,
    })?;
    let bound = listener.local_addr()?;
    let public_url = config.public_base(bound);
    let mailer = Mailer::start(db.clone(), config.smtp.clone());
    let low_balance =
        crate::billing::alert::LowBalanceMail::new(&config, &public_url, mailer.clone());
    let blocklist = crate::abuse::Blocklist::load(&*db.conn()?)?;
    let (gateway, gateway_tasks) = Gateway::start(
        &live,
        db.clone(),
        Some(Box::new(low_balance)),
        blocklist.clone(),
    )
    .map_err(ServeError::Start)?;
    log_providers(&config);
    log_billing(&config);
    {
        let gateway = gateway.clone();
        let restored = db
            .run(move |conn| crate::health::restore_rotation(conn, &*gateway))
            .await;
        if let Err(e) = restored {
            tracing::warn!("cannot read which providers are out of rotation ({e}); all serve");
        }
    }
    let analytics = crate::privacy::analytics::Analytics::start(db.clone(), &public_url)?;
    let mut state = AppState::new(
        live.clone(),
        db.clone(),
        public_url.clone(),
        mailer.clone(),
        gateway.clone(),
        analytics,
    )?;
    state.blocklist = blocklist.clone();
    // A database that cannot be written now (a full disk) still serves: the version is then
    // recorded, and announced, at a later start.
    match crate::privacy::policy::publish(
        &db,
        &config.policy.effective_date,
        &state.pages.privacy_html,
        &state.pages.terms_html,
    ) {
        Ok(policy) => {
            state.policy = Arc::new(policy);
            tokio::spawn(mail_policy_notices(state.clone()));
        }
        Err(e) => tracing::warn!(
            "cannot record the policy version {} ({e}); earlier versions are not linked and nobody is told of a change until a later start",
            config.policy.effective_date
        ),
    }
    offer_admin_setup(&state).await?;
    let maintenance = tokio::spawn(maintain(state.clone()));
    let retention = tokio::spawn(retain(db.clone(), config.clone()));
    let detector = tokio::spawn(detect(state.clone(), blocklist));
    let reloader = tokio::spawn(reload_on_hangup(live.clone()));
    let backups = tokio::spawn(crate::backup::schedule(db.clone(), config.backup.clone()));

    if config.site.contact_email.is_none() {
        tracing::warn!(
            "site.contact_email is not set: the privacy policy and contact page show no address"
        );
    }

    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let shutdown = config.server.shutdown_timeout_secs;
    let app_state = state.clone();
    let metrics_gateway = gateway.clone();
    let server = HttpServer::new(move || build_app(app_state.clone(), gateway.clone()))
        .on_connect(no_delay)
        .workers(workers)
        .shutdown_timeout(shutdown)
        .disable_signals();
    let scheme;
    let server = match (&config.server.tls.cert, &config.server.tls.key) {
        (Some(cert), Some(key)) => {
            scheme = "https";
            let tls = crate::tls::load_server_config(cert, key).map_err(ConfigError::from)?;
            server.listen_rustls_0_23(listener, tls)?
        }
        _ => {
            scheme = "http";
            server.listen(listener)?
        }
    };
    let main = server.run();
    let mut handles = vec![main.handle()];
    let mut servers = vec![tokio::spawn(main)];

    if let Some(redirect_addr) = config.server.tls.redirect_http_listen {
        let target: Arc<str> = public_url.clone().into();
        let redirect = HttpServer::new(move || {
            let target = target.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let target = target.clone();
                async move { redirect_to_https(&req, &target) }
            }))
        })
        .workers(1)
        .shutdown_timeout(shutdown)
        .disable_signals()
        .bind(redirect_addr)
        .map_err(|source| ServeError::Bind {
            addr: redirect_addr,
            source,
        })?
        .run();
        handles.push(redirect.handle());
        servers.push(tokio::spawn(redirect));
        tracing::info!("redirecting http://{redirect_addr} to {public_url}");
    }

    if let Some(addr) = config.metrics.listen {
        let metrics = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(metrics_gateway.clone()))
                .configure(crate::app::metrics::listener_routes)
        })
        .workers(1)
        .shutdown_timeout(shutdown)
        .disable_signals()
        .bind(addr)
        .map_err(|source| ServeError::Bind { addr, source })?;
        for bound in metrics.addrs() {
            tracing::info!("metrics at http://{bound}{}", crate::app::metrics::PATH);
        }
        let metrics = metrics.run();
        handles.push(metrics.handle());
        servers.push(tokio::spawn(metrics));
    }

    tracing::info!(
        "{} listening on {scheme}://{bound} (public URL {public_url})",
        config.site.name
    );

    tokio::spawn(async move {
        wait_for_stop_signal().await;
        tracing::info!("stop signal received; finishing in-flight requests (up to {shutdown}s)");
        stop_all(&handles, true);
        wait_for_stop_signal().await;
        tracing::warn!("second stop signal: stopping at once");
        stop_all(&handles, false);
    });

    for server in servers {
        match server.await {
            Ok(result) => result?,
            Err(_) => tracing::error!("a listener task ended abnormally"),
        }
    }

    maintenance.abort();
    retention.abort();
    detector.abort();
    reloader.abort();
    backups.abort();
    // In-flight requests are done: write their usage rows before closing the database.
    gateway_tasks.stop();
    mailer.shutdown(Duration::from_secs(5)).await;
    if let Err(e) = db.checkpoint() {
        tracing::warn!("could not checkpoint the database at shutdown: {e}");
    }
    drop(state);
    drop(db);
    tracing::info!("stopped");
    Ok(())
}

/// Says which providers serve the API, and which were enabled only by an environment variable.
fn log_providers(config: &Config) {
    if config.providers.is_empty() {
        tracing::warn!(
            "no model providers are configured: the API answers 503 until [[providers]] are added (or OPENAI_API_KEY / ANTHROPIC_API_KEY is set)"
        );
    }
    for provider in &config.providers {
        let implicit = provider.api_key.is_none()
            && matches!(
                provider.api_key_env.as_deref(),
                Some("OPENAI_API_KEY" | "ANTHROPIC_API_KEY")
            )
            && matches!(provider.name.as_str(), "openai" | "anthropic");
        tracing::info!(
            "provider {} ({:?}) at {}{}",
            provider.name,
            provider.kind,
            provider.base_url,
            if implicit {
                ", enabled because its API key variable is set"
            } else {
                ""
            }
        );
    }
}

/// With no administrator yet, logs a one-time link that creates one. It works until the first
/// administrator exists or this process stops.
async fn offer_admin_setup(state: &AppState) -> Result<(), DbError> {
    let admins = state.db.run(|conn| accounts::count_admins(conn)).await?;
    if admins > 0 {
        return Ok(());
    }
    let token = crate::auth::token::random_token();
    *state.admin_setup.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(crate::auth::token::sha256(&token));
    tracing::warn!(
        "no administrator yet: create one at {}/setup/admin?token={token} (or run `codexapi admin create`)",
        state.public_url
    );
    Ok(())
}

/// Periodic housekeeping: expired sessions are deleted.
async fn maintain(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        let accounts_config = state.config().accounts.clone();
        let result = state
            .db
            .run(move |conn| {
                let now = now_ms();
                accounts::delete_expired_sessions(
                    conn,
                    now - i64::from(accounts_config.session_idle_hours) * 3_600_000,
                    now - i64::from(accounts_config.session_max_days) * 86_400_000,
                )
            })
            .await;
        if let Err(e) = result {
            tracing::warn!("housekeeping failed: {e}");
        }
    }
}

/// Mails account holders about a new policy version, once each.
async fn mail_policy_notices(state: AppState) {
    let (db, policy, config, public_url) = (
        state.db.clone(),
        state.policy.clone(),
        state.config().clone(),
        state.public_url.clone(),
    );
    let sent = tokio::task::spawn_blocking(move || {
        let ctx = crate::mail::MailContext {
            site_name: &config.site.name,
            public_url: &public_url,
            contact_email: config.site.contact_email.as_deref(),
        };
        crate::privacy::policy::mail_notices(&db, &policy, &ctx)
    })
    .await;
    match sent {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => {
            tracing::info!(
                "the policy of {} was mailed to {n} account holders",
                state.policy.effective_date
            );
            state.mailer.wake();
        }
        Ok(Err(e)) => tracing::warn!("could not queue the policy notices: {e}"),
        Err(_) => tracing::error!("queueing the policy notices stopped unexpectedly"),
    }
}

/// The retention job: once at start, then daily; an hour after a failed run, it tries again.
async fn retain(db: Db, config: Arc<Config>) {
    use crate::privacy::retention;
    loop {
        let (job_db, privacy) = (db.clone(), config.privacy.clone());
        let outcome =
            tokio::task::spawn_blocking(move || retention::run(&job_db, &privacy, now_ms())).await;
        let wait = match outcome {
            Ok(Ok(report)) => {
                tracing::info!("retention job: {}", report.summary());
                retention::EVERY
            }
            Ok(Err(e)) => {
                tracing::warn!("the retention job failed ({e}); trying again in an hour");
                Duration::from_secs(3600)
            }
            Err(_) => {
                tracing::error!("the retention job stopped unexpectedly; trying again in an hour");
                Duration::from_secs(3600)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// The abuse detector: every `abuse.scan_every_secs`, the rules run and what they find is
/// flagged, mailed and acted on.
async fn detect(state: AppState, blocklist: crate::abuse::Blocklist) {
    use crate::abuse::detector;
    let mut tick = tokio::time::interval(Duration::from_secs(state.config().abuse.scan_every_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (db, config, public_url, list) = (
            state.db.clone(),
            state.config().clone(),
            state.public_url.clone(),
            blocklist.clone(),
        );
        let outcome = tokio::task::spawn_blocking(move || {
            let ctx = crate::mail::MailContext {
                site_name: &config.site.name,
                public_url: &public_url,
                contact_email: config.site.contact_email.as_deref(),
            };
            detector::scan(&db, &config, &list, &ctx, now_ms())
        })
        .await;
        match outcome {
            Ok(Ok(report)) => {
                if report.raised + report.suspended > 0 {
                    tracing::warn!("abuse detector: {}", report.summary());
                }
                if report.mailed > 0 {
                    state.mailer.wake();
                }
            }
            Ok(Err(e)) => tracing::warn!("the abuse detector failed: {e}"),
            Err(_) => tracing::error!("the abuse detector stopped unexpectedly"),
        }
    }
}

fn stop_all(handles: &[actix_web::dev::ServerHandle], graceful: bool) {
    for handle in handles {
        let handle = handle.clone();
        tokio::spawn(async move { handle.stop(graceful).await });
    }
}

#[cfg(unix)]
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for stop signals; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Reloads the configuration on every SIGHUP (`systemctl reload`), saying what happened.
#[cfg(unix)]
async fn reload_on_hangup(live: Arc<Live>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::error!(
            "cannot listen for SIGHUP; reload the configuration from the admin console"
        );
        return;
    };
    while hangups.recv().await.is_some() {
        let live = live.clone();
        match tokio::task::spawn_blocking(move || live.reload()).await {
            Ok(Ok(reloaded)) => tracing::info!("SIGHUP: {reloaded}"),
            Ok(Err(e)) => {
                tracing::error!("SIGHUP: configuration not reloaded, the running one stays: {e}")
            }
            Err(_) => tracing::error!("SIGHUP: the reload ended abnormally"),
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_hangup(_live: Arc<Live>) {}

#[cfg(not(unix))]
async fn wait_for_stop_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// The redirecting listener sends every request to the same path on the public HTTPS URL; the
/// host comes from config, never from the request, so it cannot be turned into an open redirect.
fn redirect_to_https(req: &HttpRequest, public_url: &str) -> HttpResponse {
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    HttpResponse::PermanentRedirect()
        .insert_header(("location", format!("{public_url}{path_and_query}")))
        .finish()
}

/// Streamed answers leave event by event, in small writes. Without `TCP_NODELAY`, Nagle's
/// algorithm holds each one back until the client has acknowledged the one before, which with
/// delayed acknowledgements means stalls of up to 40 ms in the middle of a stream.
fn no_delay(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    use actix_web::rt::net::TcpStream;
    let tcp = connection.downcast_ref::<TcpStream>().or_else(|| {
        connection
            .downcast_ref::<TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref().0)
    });
    if let Some(tcp) = tcp
        && let Err(e) = tcp.set_nodelay(true)
    {
        tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
    }
}
