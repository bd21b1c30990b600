use std::path::PathBuf;

use super::*;

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::load_from(Some(&path), env)
}

#[test]
fn defaults_need_no_file() {
    let config = Config::load_from(None, Vec::new()).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database.path, PathBuf::from("data/codexapi.db"));
}

#[test]
fn env_overrides_file() {
    let config = load(
        "[server]\nlisten = \"127.0.0.1:9000\"\n",
        &[
            ("CODEXAPI_SERVER__LISTEN", "127.0.0.1:9100"),
            ("CODEXAPI_DATABASE__POOL_SIZE", "3"),
        ],
    )
    .unwrap();
    assert_eq!(config.server.listen.port(), 9100);
    assert_eq!(config.database.pool_size, 3);
}

#[test]
fn numeric_looking_env_values_fill_string_keys() {
    let config = load("", &[("CODEXAPI_SITE__NAME", "1234")]).unwrap();
    assert_eq!(config.site.name, "1234");
}

#[test]
fn file_variables_read_the_value_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("name");
    std::fs::write(&secret, "Acme Gateway\n").unwrap();
    let config = load(
        "",
        &[("CODEXAPI_SITE__NAME_FILE", secret.to_str().unwrap())],
    )
    .unwrap();
    assert_eq!(config.site.name, "Acme Gateway");
}

#[test]
fn errors_name_the_key_on_one_line() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("[server]\nlisen = \"x\"\n", &[], "server.lisen"),
        ("[server]\nlisten = 5\n", &[], "server.listen"),
        (
            "[server]\npublic_url = \"ftp://x\"\n",
            &[],
            "server.public_url",
        ),
        (
            "[server]\npublic_url = \"not a url\"\n",
            &[],
            "server.public_url",
        ),
        (
            "[server.tls]\ncert = \"/tmp/c.pem\"\n",
            &[],
            "server.tls.key",
        ),
        (
            "[database]\nsynchronous = \"sometimes\"\n",
            &[],
            "database.synchronous",
        ),
        (
            "[policy]\neffective_date = \"yesterday\"\n",
            &[],
            "policy.effective_date",
        ),
        (
            "[billing]\ncurrency = \"dollars\"\n",
            &[],
            "billing.currency",
        ),
        (
            "[[models]]\nid = \"m\"\nprice = { input = \"x\", output = 1 }\n",
            &[],
            "models",
        ),
        (
            "",
            &[("CODEXAPI_SERVER__WORKERS", "many")],
            "server.workers",
        ),
        ("", &[("CODEXAPI_NOPE", "1")], "nope"),
    ];
    for (toml, env, key) in cases {
        let err = load(toml, env).expect_err(toml).to_string();
        assert!(err.starts_with("config error: "), "{err}");
        assert!(err.contains(key), "{toml:?} {env:?}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn secrets_never_print() {
    let config = load(
        "[smtp]\nhost = \"mail.test\"\nusername = \"u\"\npassword = \"hunter2-secret\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        config.smtp.password.as_ref().unwrap().expose(),
        "hunter2-secret"
    );
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains("hunter2-secret"), "{debug}");
    assert!(debug.contains("***"));
}

#[test]
fn syntax_errors_are_one_line() {
    let err = load("[server\nlisten = 1", &[]).unwrap_err().to_string();
    assert!(err.starts_with("config error: "), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// Lines that look like the config file: known sections and keys, values of every type,
    /// and broken syntax now and then.
    fn config_line() -> impl Strategy<Value = String> {
        let section = prop::sample::select(vec![
            "[server]",
            "[database]",
            "[gateway]",
            "[accounts]",
            "[billing]",
            "[smtp]",
            "[[providers]]",
            "[[models]]",
            "[[tiers]]",
            "[nope]",
            "[server",
        ])
        .prop_map(str::to_owned);
        let key = prop::sample::select(vec![
            "listen",
            "path",
            "max_body_bytes",
            "body_idle_secs",
            "breaker_cooldown_secs",
            "reauthenticate_after_secs",
            "signup",
            "mode",
            "currency",
            "host",
            "port",
            "name",
            "kind",
            "base_url",
            "id",
            "routes",
            "price",
            "first_byte_timeout_secs",
            "unknown_key",
        ]);
        let value = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            "[a-z0-9:/.\\-]{0,20}".prop_map(|s| format!("\"{s}\"")),
            Just("true".to_owned()),
            Just("[1, \"x\"]".to_owned()),
            Just("{ input = 1, output = \"2.5\" }".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("\"unterminated".to_owned()),
        ];
        prop_oneof![
            section,
            (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
            "[ -~]{0,30}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Whatever the file holds, loading it gives a config or one line naming the problem,
        /// never a panic.
        #[test]
        fn any_file_loads_or_fails_on_one_line(lines in prop::collection::vec(config_line(), 0..12)) {
            let toml = lines.join("\n");
            match load(&toml, &[]) {
                Ok(_) => {}
                Err(e) => {
                    let line = e.to_string();
                    prop_assert!(!line.contains('\n'), "{line}");
                    prop_assert!(line.starts_with("config error: "), "{line}");
                }
            }
        }

        /// Environment values, whatever their text, do the same.
        #[test]
        fn any_environment_value_loads_or_fails_on_one_line(
            key in prop::sample::select(vec![
                "CODEXAPI_SERVER__LISTEN",
                "CODEXAPI_GATEWAY__MAX_BODY_BYTES",
                "CODEXAPI_GATEWAY__BODY_IDLE_SECS",
                "CODEXAPI_ACCOUNTS__SIGNUP",
                "CODEXAPI_BILLING__MODE",
                "CODEXAPI_SERVER__TRUSTED_PROXIES",
                "CODEXAPI_NOPE__X",
            ]),
            value in "[ -~]{0,40}",
        ) {
            if let Err(e) = load("", &[(key, value.as_str())]) {
                prop_assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
}

#[test]
fn abuse_rules_are_checked_and_named_by_their_key() {
    let config = load(
        "[abuse.key_networks]\nthreshold = 3\nwindow_mins = 60\nauto_suspend = true\n",
        &[("CODEXAPI_ABUSE__SPEND_SPIKE__MIN_SPEND", "2.50")],
    )
    .unwrap();
    assert!(config.abuse.key_networks.enabled && config.abuse.key_networks.auto_suspend);
    assert_eq!(config.abuse.spend_spike.min_spend.micros(), 2_500_000);
    assert_eq!(
        config.abuse.rate_limited,
        AbuseConfig::default().rate_limited
    );
    // A rule's table may set one key; the others keep their defaults.
    let partial = load("[abuse.signups_network]\nthreshold = 9\n", &[]).unwrap();
    assert_eq!(partial.abuse.signups_network.threshold, 9);
    assert_eq!(partial.abuse.signups_network.window_mins, 60);

    let cases = [
        ("[abuse]\nscan_every_secs = 0\n", "abuse.scan_every_secs"),
        (
            "[abuse.key_networks]\nthreshold = 1\nwindow_mins = 60\n",
            "abuse.key_networks.threshold",
        ),
        (
            "[abuse.rate_limited]\nthreshold = 5\nwindow_mins = 0\n",
            "abuse.rate_limited.window_mins",
        ),
        (
            "[abuse.signin_failures_network]\nthreshold = 5\nwindow_mins = 5\nauto_suspend = true\n",
            "abuse.signin_failures_network.auto_suspend",
        ),
        (
            "[abuse.spend_spike]\nfactor = 1\n",
            "abuse.spend_spike.factor",
        ),
        (
            "[abuse.spend_spike]\nmin_spend = \"0\"\n",
            "abuse.spend_spike.min_spend",
        ),
        (
            "[privacy]\nmetadata_retention_days = 7\nip_retention_days = 7\n[abuse.spend_spike]\nbaseline_days = 7\n",
            "abuse.spend_spike.baseline_days",
        ),
        (
            "[abuse.disputes]\nsuspend = true\n",
            "abuse.disputes.suspend",
        ),
    ];
    for (toml, key) in cases {
        let err = load(toml, &[]).expect_err(toml).to_string();
        assert!(err.contains(key), "{toml:?}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
    // A rule that is off is not checked.
    let off = load(
        "[abuse.rate_limited]\nenabled = false\nthreshold = 0\nwindow_mins = 0\n",
        &[],
    )
    .unwrap();
    assert!(!off.abuse.rate_limited.enabled);
}

#[test]
fn backups_are_off_by_default_and_their_settings_are_checked() {
    let config = load("", &[]).unwrap();
    assert_eq!(config.backup.dir, None);
    assert_eq!((config.backup.every_hours, config.backup.keep), (24, 7));
    let config = load("", &[("CODEXAPI_BACKUP__DIR", "/var/backups/codexapi")]).unwrap();
    assert_eq!(
        config.backup.dir,
        Some(PathBuf::from("/var/backups/codexapi"))
    );
    for (toml, key) in [
        ("[backup]\nevery_hours = 0\n", "backup.every_hours"),
        ("[backup]\nkeep = 0\n", "backup.keep"),
        (
            "[database]\npath = \"data/x.db\"\n[backup]\ndir = \"data/x.db\"\n",
            "backup.dir",
        ),
    ] {
        let err = load(toml, &[]).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{err}");
    }
}

#[test]
fn metrics_keys_are_read_and_checked() {
    let config = load(
        "[metrics]\nlisten = \"127.0.0.1:9464\"\n",
        &[(
            "CODEXAPI_METRICS__TOKEN",
            "a-token-of-32-characters-0123456",
        )],
    )
    .unwrap();
    assert_eq!(config.metrics.listen.map(|a| a.port()), Some(9464));
    assert_eq!(format!("{:?}", config.metrics.token), "Some(***)");
    assert!(
        Config::load_from(None, Vec::new())
            .unwrap()
            .metrics
            .token
            .is_none()
    );

    let err = load(
        "[server]\nlisten = \"127.0.0.1:9000\"\n[metrics]\nlisten = \"127.0.0.1:9000\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("metrics.listen") && err.contains("server.listen"),
        "{err}"
    );
    let err = load("[metrics]\ntoken = \"short\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metrics.token") && !err.contains("short"),
        "{err}"
    );
}
