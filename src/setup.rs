//! Ready-to-paste client set-up for this server: Codex CLI, Claude Code, curl and the SDKs.
//! The docs page shows them with a placeholder key; the dashboard fills in a real one.

/// Environment variable the Codex CLI snippet reads the key from.
pub const CODEX_ENV_KEY: &str = "CODEXAPI_API_KEY";

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
pub fn snippets(base: &str, key: &str, model: &str) -> Snippets {
    Snippets {
        codex_config: format!(
            r#"model = "{model}"
model_provider = "codexapi"

[model_providers.codexapi]
name = "CodexAPI"
base_url = "{base}/v1"
env_key = "{CODEX_ENV_KEY}"
wire_api = "responses""#
        ),
        codex_env: format!(r#"export {CODEX_ENV_KEY}="{key}""#),
        models_url: format!("{base}/v1/models"),
        claude_code_env: format!(
            r#"export ANTHROPIC_BASE_URL="{base}"
export ANTHROPIC_AUTH_TOKEN="{key}"
claude"#
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
  -d '{{"model": "{model}", "max_tokens": 256, "messages": [{{"role": "user", "content": "Hello"}}]}}'"#
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
    model="{model}",
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

    #[test]
    fn codex_gets_v1_and_claude_code_does_not() {
        let s = snippets("https://gw.example.com", "sk-cx-test", "m1");
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
}
