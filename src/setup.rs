//! Ready-to-paste client set-up for this server: Codex CLI, Claude Code, curl and the SDKs.
//! The docs page shows them with a placeholder key; the dashboard fills in a real one.
//!
//! The snippets name this server by the operator's `site.name`: the Codex provider block and the
//! variable that holds the key are this site's (`acme`, `ACME_API_KEY` for "Acme"), never the
//! product's, and never one of the provider ids Codex keeps for its own (`openai`, `oss`, …):
//! a block under such an id would not be read as this server.

use crate::config::{Config, ProviderKind};

/// Environment variable the Codex CLI snippet reads the key from, for the default site name.
pub const CODEX_ENV_KEY: &str = "CODEXAPI_API_KEY";

/// What the examples show where a key goes, before the user has one.
pub const PLACEHOLDER_KEY: &str = "sk-cx-YOUR-KEY";

/// Provider ids Codex CLI has built in; a `[model_providers.…]` block may not take them.
const CODEX_BUILT_IN_PROVIDERS: &[&str] = &["openai", "oss", "ollama", "lmstudio"];

/// How the snippets name this server, derived from `site.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// The name as the operator wrote it, for Codex's `name = "…"`.
    pub display: String,
    /// The Codex provider id: lowercase letters, digits and `_`.
    pub provider_id: String,
    /// The environment variable that holds the key: `ACME_API_KEY`.
    pub env_key: String,
}

impl Naming {
    pub fn for_site(site_name: &str) -> Naming {
        let mut id = String::new();
        for c in site_name.chars() {
            if c.is_ascii_alphanumeric() {
                id.push(c.to_ascii_lowercase());
            } else if !id.is_empty() && !id.ends_with('_') {
                id.push('_');
            }
        }
        let mut id = id.trim_end_matches('_').to_owned();
        if id.is_empty() {
            id = "gateway".to_owned();
        } else if id.starts_with(|c: char| c.is_ascii_digit()) {
            // A shell variable cannot start with a digit.
            id = format!("gateway_{id}");
        } else if CODEX_BUILT_IN_PROVIDERS.contains(&id.as_str()) {
            id = format!("{id}_gateway");
        }
        let display = site_name.trim();
        Naming {
            display: if display.is_empty() {
                id.clone()
            } else {
                display.to_owned()
            },
            env_key: format!("{}_API_KEY", id.to_ascii_uppercase()),
            provider_id: id,
        }
    }
}

/// The models the examples use: the first configured one for the OpenAI formats, and for the
/// Anthropic ones the first served by an Anthropic provider, else the first whose id starts with
/// `claude`, else the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleModels {
    pub openai: String,
    pub anthropic: String,
}

impl ExampleModels {
    pub fn from_config(config: &Config) -> ExampleModels {
        ExampleModels::among(config, &[])
    }

    /// The same choice among the models a key may use (`allowed`, or all when it is empty).
    pub fn among(config: &Config, allowed: &[String]) -> ExampleModels {
        let usable = |id: &str| allowed.is_empty() || allowed.iter().any(|a| a == id);
        let models: Vec<_> = config.models.iter().filter(|m| usable(&m.id)).collect();
        let openai = models
            .first()
            .map(|m| m.id.clone())
            .or_else(|| allowed.first().cloned())
            .unwrap_or_else(|| "MODEL_ID".to_owned());
        let anthropic_kind = |provider: &str| {
            config
                .providers
                .iter()
                .any(|p| p.name == provider && p.kind == ProviderKind::Anthropic)
        };
        let anthropic = models
            .iter()
            .find(|m| m.routes.iter().any(|r| anthropic_kind(&r.provider)))
            .or_else(|| models.iter().find(|m| m.id.starts_with("claude")))
            .map(|m| m.id.clone())
            .unwrap_or_else(|| openai.clone());
        ExampleModels { openai, anthropic }
    }

    /// The same model for both formats.
    pub fn only(model: &str) -> ExampleModels {
        ExampleModels {
            openai: model.to_owned(),
            anthropic: model.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippets {
    /// Block for `~/.codex/config.toml`.
    pub codex_config: String,
    /// Shell line that puts the key where Codex looks for it.
    pub codex_env: String,
    /// The model catalog Codex can read (`model_catalog_url`).
    pub models_url: String,
    pub claude_code_env: String,
    pub curl_responses: String,
    pub curl_messages: String,
    pub python_openai: String,
    pub python_anthropic: String,
}

/// `base` is the public URL without a trailing slash.
pub fn snippets(base: &str, key: &str, naming: &Naming, models: &ExampleModels) -> Snippets {
    let model = &models.openai;
    let claude = &models.anthropic;
    let Naming {
        provider_id: id,
        env_key,
        ..
    } = naming;
    // A TOML basic string: the operator's name may hold quotes or backslashes.
    let display = toml::Value::String(naming.display.clone()).to_string();
    Snippets {
        codex_config: format!(
            r#"model = "{model}"
model_provider = "{id}"

[model_providers.{id}]
name = {display}
base_url = "{base}/v1"
env_key = "{env_key}"
wire_api = "responses""#
        ),
        codex_env: format!(r#"export {env_key}="{key}""#),
        models_url: format!("{base}/v1/models"),
        claude_code_env: format!(
            r#"export ANTHROPIC_BASE_URL="{base}"
export ANTHROPIC_AUTH_TOKEN="{key}"
claude --model {claude}"#
        ),
        curl_responses: format!(
            r#"curl {base}/v1/responses \
  -H "Authorization: Bearer {key}" \
  -H "Content-Type: application/json" \
  -d '{{"model": "{model}", "input": "Write a haiku about unit tests."}}'"#
        ),
        curl_messages: format!(
            r#"curl {base}/v1/messages \
  -H "x-api-key: {key}" \
  -H "anthropic-version: 2023-06-01" \
  -H "Content-Type: application/json" \
  -d '{{"model": "{claude}", "max_tokens": 256, "messages": [{{"role": "user", "content": "Hello"}}]}}'"#
        ),
        python_openai: format!(
            r#"from openai import OpenAI

client = OpenAI(base_url="{base}/v1", api_key="{key}")
response = client.responses.create(model="{model}", input="Explain this regex: ^a+$")
print(response.output_text)"#
        ),
        python_anthropic: format!(
            r#"from anthropic import Anthropic

client = Anthropic(base_url="{base}", api_key="{key}")
message = client.messages.create(
    model="{claude}",
    max_tokens=1024,
    messages=[{{"role": "user", "content": "Explain this regex: ^a+$"}}],
)
print(message.content[0].text)"#
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming() -> Naming {
        Naming::for_site("CodexAPI")
    }

    #[test]
    fn codex_gets_v1_and_claude_code_does_not() {
        let s = snippets(
            "https://gw.example.com",
            "sk-cx-test",
            &naming(),
            &ExampleModels::only("m1"),
        );
        assert!(
            s.codex_config
                .contains(r#"base_url = "https://gw.example.com/v1""#)
        );
        assert!(s.codex_config.contains(r#"wire_api = "responses""#));
        assert!(
            s.claude_code_env
                .contains(r#"ANTHROPIC_BASE_URL="https://gw.example.com""#)
        );
        assert!(!s.claude_code_env.contains("/v1"));
        let parsed: toml::Table = s.codex_config.parse().unwrap();
        assert_eq!(
            parsed["model_providers"]["codexapi"]["env_key"].as_str(),
            Some(CODEX_ENV_KEY)
        );
    }

    #[test]
    fn names_come_from_the_site_name() {
        let acme = Naming::for_site("Acme");
        assert_eq!(acme.provider_id, "acme");
        assert_eq!(acme.env_key, "ACME_API_KEY");
        assert_eq!(acme.display, "Acme");
        let s = snippets("https://a.test", "k", &acme, &ExampleModels::only("m"));
        let parsed: toml::Table = s.codex_config.parse().unwrap();
        assert_eq!(parsed["model_provider"].as_str(), Some("acme"));
        assert_eq!(
            parsed["model_providers"]["acme"]["name"].as_str(),
            Some("Acme")
        );
        assert_eq!(
            parsed["model_providers"]["acme"]["env_key"].as_str(),
            Some("ACME_API_KEY")
        );
        assert_eq!(s.codex_env, r#"export ACME_API_KEY="k""#);
        assert!(!s.codex_config.contains("CodexAPI") && !s.codex_env.contains("CODEXAPI"));

        let odd = Naming::for_site(r#"Bob's "AI" Café — Gateway"#);
        assert_eq!(odd.provider_id, "bob_s_ai_caf_gateway");
        assert_eq!(odd.env_key, "BOB_S_AI_CAF_GATEWAY_API_KEY");
        let s = snippets("https://a.test", "k", &odd, &ExampleModels::only("m"));
        let parsed: toml::Table = s.codex_config.parse().unwrap();
        assert_eq!(
            parsed["model_providers"]["bob_s_ai_caf_gateway"]["name"].as_str(),
            Some(r#"Bob's "AI" Café — Gateway"#)
        );
    }

    #[test]
    fn a_name_codex_keeps_for_itself_or_no_usable_name_gets_its_own_id() {
        assert_eq!(Naming::for_site("OpenAI").provider_id, "openai_gateway");
        assert_eq!(Naming::for_site("OpenAI").env_key, "OPENAI_GATEWAY_API_KEY");
        assert_eq!(Naming::for_site("Ollama").provider_id, "ollama_gateway");
        assert_eq!(
            Naming::for_site("42 Labs").env_key,
            "GATEWAY_42_LABS_API_KEY"
        );
        assert_eq!(Naming::for_site("ÆØÅ").provider_id, "gateway");
        assert_eq!(Naming::for_site("ÆØÅ").env_key, "GATEWAY_API_KEY");
    }

    fn config(text: &str) -> Config {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn anthropic_examples_use_a_model_served_in_anthropic_format() {
        let both = config(
            r#"
[[providers]]
name = "oa"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
name = "an"
kind = "anthropic"
base_url = "http://127.0.0.1:9/v1"
[[models]]
id = "gpt-x"
routes = [{ provider = "oa" }]
price = { input = 1, output = 2 }
[[models]]
id = "sonnet"
routes = [{ provider = "an" }]
price = { input = 1, output = 2 }
"#,
        );
        let models = ExampleModels::from_config(&both);
        assert_eq!(models.openai, "gpt-x");
        assert_eq!(models.anthropic, "sonnet");
        let s = snippets("https://a.test", "k", &naming(), &models);
        assert!(s.curl_messages.contains(r#""model": "sonnet""#));
        assert!(s.python_anthropic.contains(r#"model="sonnet""#));
        assert!(s.claude_code_env.contains("--model sonnet"));
        assert!(s.curl_responses.contains(r#""model": "gpt-x""#));

        let named = config(
            r#"
[[providers]]
name = "oa"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[models]]
id = "gpt-x"
routes = [{ provider = "oa" }]
price = { input = 1, output = 2 }
[[models]]
id = "claude-like"
routes = [{ provider = "oa" }]
price = { input = 1, output = 2 }
"#,
        );
        assert_eq!(ExampleModels::from_config(&named).anthropic, "claude-like");
        let none = config(
            r#"
[[providers]]
name = "oa"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[models]]
id = "gpt-x"
routes = [{ provider = "oa" }]
price = { input = 1, output = 2 }
"#,
        );
        assert_eq!(ExampleModels::from_config(&none).anthropic, "gpt-x");

        // A key limited to some models gets examples among those.
        let only_gpt = ExampleModels::among(&both, &["gpt-x".to_owned()]);
        assert_eq!(
            (only_gpt.openai.as_str(), only_gpt.anthropic.as_str()),
            ("gpt-x", "gpt-x")
        );
        let only_sonnet = ExampleModels::among(&both, &["sonnet".to_owned()]);
        assert_eq!(only_sonnet.openai, "sonnet");
    }
}
