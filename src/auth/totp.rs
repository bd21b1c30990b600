//! Time-based one-time passwords (RFC 6238: SHA-1, 6 digits, 30 s, one step of clock skew) for
//! two-factor sign-in, and the QR code that carries the secret to an authenticator app.

use totp_rs::{Builder, Secret, Totp};

/// A new random 160-bit secret, base32-encoded as authenticator apps expect.
pub fn new_secret() -> String {
    let bytes: [u8; 20] = rand::random();
    Secret::from(bytes).to_base32()
}

fn totp(secret_base32: &str, issuer: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer.replace(':', " ")))
        .with_account_name(account.replace(':', " "))
        .build()
        .ok()
}

/// The `otpauth://` link an authenticator app scans.
pub fn otpauth_url(secret_base32: &str, issuer: &str, account: &str) -> Option<String> {
    totp(secret_base32, issuer, account)?.to_url().ok()
}

/// The link as an SVG QR code, for inline use in a page.
pub fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// The time step `code` is valid in, if it is valid now and newer than `last_step` (a code
/// is accepted once only).
pub fn check(secret_base32: &str, code: &str, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = i64::try_from(totp(secret_base32, "x", "x")?.check_current(&code)?).ok()?;
    match last_step {
        Some(last) if step <= last => None,
        _ => Some(step),
    }
}

/// Recovery codes are compared without case, spaces or dashes.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_code(secret: &str) -> String {
        totp(secret, "x", "x")
            .unwrap()
            .generate_current()
            .to_string()
    }

    #[test]
    fn a_code_works_once() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        let code = current_code(&secret);
        let step = check(&secret, &code, None).expect("valid now");
        assert_eq!(check(&secret, &code, Some(step)), None, "replayed");
        assert_eq!(check(&secret, "12345", None), None);
        assert_eq!(check(&secret, "abcdef", None), None);
    }

    #[test]
    fn qr_and_url_carry_the_secret() {
        let secret = new_secret();
        let url = otpauth_url(&secret, "Acme Gateway", "ada@example.test").unwrap();
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        assert!(url.contains(&secret));
        let svg = qr_svg(&url).unwrap();
        assert!(svg.contains("<svg") && !svg.contains("style="));
    }

    #[test]
    fn recovery_codes_ignore_case_and_dashes() {
        assert_eq!(normalize_recovery_code(" AbCde-fGh23 "), "abcdefgh23");
    }
}
