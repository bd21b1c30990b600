//! Mail: the messages the site sends, rendered from `templates/mail/`, the outbox table they wait
//! in, and the background sender that delivers them over SMTP (or, without SMTP, to the log).
//!
//! Callers build an [`Email`] with one of the functions below, [`queue`] it in the same
//! transaction as the change it reports, then [`Mailer::wake`] the sender. Links in mail are made
//! from the configured public URL, never from a request's `Host` header, so a forged header cannot
//! point a reset link at someone else's server.

mod sender;

use std::fmt;

use askama::Template;

pub use crate::db::outbox::MAX_ATTEMPTS;
pub use sender::{Mailer, test_connection};

/// A rendered mail, ready for the outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Leaves the bodies out: they may hold single-use links, which a stray `{:?}` in a log line
/// must not give away.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &format_args!("<{} bytes>", self.text.len()))
            .field("html", &format_args!("<{} bytes>", self.html.len()))
            .finish()
    }
}

/// What every mail shows: site name, links built from the configured public URL (never a
/// request's Host header).
#[derive(Debug, Clone, Copy)]
pub struct MailContext<'a> {
    pub site_name: &'a str,
    /// Without a trailing slash.
    pub public_url: &'a str,
    pub contact_email: Option<&'a str>,
}

impl MailContext<'_> {
    /// An absolute link to `path_and_query` (which starts with `/`) on the public URL.
    pub fn link(&self, path_and_query: &str) -> String {
        format!(
            "{}/{}",
            self.public_url.trim_end_matches('/'),
            path_and_query.trim_start_matches('/')
        )
    }
}

/// The parts of a mail the shared layouts (`mail/layout.txt`, `mail/layout.html`) draw: every
/// mail template has a `layout` field of this type and fills the layout's `content` block.
pub struct Layout<'a> {
    pub site_name: &'a str,
    pub public_url: &'a str,
    pub contact_email: Option<&'a str>,
    pub subject: String,
    /// "Hello Ada," — or just "Hello," for an account without a name.
    pub greeting: String,
    /// Why the reader got this mail, shown in the footer.
    pub reason: String,
}

impl<'a> Layout<'a> {
    pub fn new(ctx: &MailContext<'a>, subject: &str, name: &str, reason: String) -> Layout<'a> {
        let name = one_line(name);
        let name = name.trim();
        Layout {
            site_name: ctx.site_name,
            public_url: ctx.public_url.trim_end_matches('/'),
            contact_email: ctx.contact_email,
            subject: one_line(subject),
            greeting: if name.is_empty() {
                "Hello,".to_owned()
            } else {
                format!("Hello {name},")
            },
            reason,
        }
    }
}

/// Renders both parts of a mail. Rendering into a `String` can only fail if a value's `Display`
/// fails, which none of ours do; should it ever happen the part is logged and left empty rather
/// than taking the request down.
pub(crate) fn compose(
    to: &str,
    layout: &Layout<'_>,
    text: &impl Template,
    html: &impl Template,
) -> Email {
    Email {
        to: to.trim().to_owned(),
        subject: layout.subject.clone(),
        text: render_part("text", &layout.subject, text),
        html: render_part("html", &layout.subject, html),
    }
}

fn render_part(part: &str, subject: &str, template: &impl Template) -> String {
    template.render().unwrap_or_else(|e| {
        tracing::error!("mail template ({part} part of {subject:?}) failed: {e}");
        String::new()
    })
}

/// Replaces line breaks and other control characters with spaces, so that a value cannot add
/// lines to a subject or a greeting.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Declares the plain-text and HTML template of one mail with the same fields.
macro_rules! mail_templates {
    ($text:ident = $text_path:tt, $html:ident = $html_path:tt { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Template)]
        #[template(path = $text_path, escape = "none")]
        struct $text<'a> {
            layout: &'a Layout<'a>,
            $($field: $ty,)*
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            layout: &'a Layout<'a>,
            $($field: $ty,)*
        }
    };
}

mail_templates!(VerifyText = "mail/verify_email.txt", VerifyHtml = "mail/verify_email.html" {
    link: &'a str,
});

mail_templates!(ResetText = "mail/password_reset.txt", ResetHtml = "mail/password_reset.html" {
    link: &'a str,
});

mail_templates!(ChangeText = "mail/email_change.txt", ChangeHtml = "mail/email_change.html" {
    link: &'a str,
});

mail_templates!(AlertText = "mail/security_alert.txt", AlertHtml = "mail/security_alert.html" {
    what: &'a str,
    ip: &'a str,
    when: &'a str,
});

/// Asks a new user to confirm their address. The address is not proven yet, so the mail holds
/// nothing the requester chose (not even their name): it cannot carry anyone's text to a stranger.
pub fn verify_email(ctx: &MailContext, to: &str, link: &str) -> Email {
    let layout = Layout::new(
        ctx,
        "Confirm your email address",
        "",
        format!(
            "You got this mail because this address was used to sign up at {}.",
            ctx.site_name
        ),
    );
    compose(
        to,
        &layout,
        &VerifyText {
            layout: &layout,
            link,
        },
        &VerifyHtml {
            layout: &layout,
            link,
        },
    )
}

/// Sends a password reset link, valid for 30 minutes.
pub fn password_reset(ctx: &MailContext, to: &str, name: &str, link: &str) -> Email {
    let layout = Layout::new(
        ctx,
        "Reset your password",
        name,
        format!(
            "You got this mail because a password reset was requested for the {} account with this address.",
            ctx.site_name
        ),
    );
    compose(
        to,
        &layout,
        &ResetText {
            layout: &layout,
            link,
        },
        &ResetHtml {
            layout: &layout,
            link,
        },
    )
}

/// Asks the owner of the new address to confirm an address change; `to` is the new address. As
/// with [`verify_email`], nothing the requester chose is in it.
pub fn email_change(ctx: &MailContext, to: &str, link: &str) -> Email {
    let layout = Layout::new(
        ctx,
        "Confirm your new email address",
        "",
        format!(
            "You got this mail because someone asked to use this address for a {} account.",
            ctx.site_name
        ),
    );
    compose(
        to,
        &layout,
        &ChangeText {
            layout: &layout,
            link,
        },
        &ChangeHtml {
            layout: &layout,
            link,
        },
    )
}

/// Tells a user that something security-relevant happened to their account (`what`, e.g. "Your
/// password was changed"), from where and when, and what to do if it was not them.
pub fn security_alert(
    ctx: &MailContext,
    to: &str,
    name: &str,
    what: &str,
    ip: &str,
    when: &str,
) -> Email {
    let what = one_line(what);
    let what = what.trim();
    let layout = Layout::new(
        ctx,
        &format!("Security alert: {what}"),
        name,
        format!(
            "You got this mail because it concerns the security of your {} account.",
            ctx.site_name
        ),
    );
    let (ip, when) = (&one_line(ip), &one_line(when));
    compose(
        to,
        &layout,
        &AlertText {
            layout: &layout,
            what,
            ip,
            when,
        },
        &AlertHtml {
            layout: &layout,
            what,
            ip,
            when,
        },
    )
}

mail_templates!(ReceiptText = "mail/topup_receipt.txt", ReceiptHtml = "mail/topup_receipt.html" {
    amount: &'a str,
    balance: &'a str,
    when: &'a str,
    receipt_id: &'a str,
    receipt_link: &'a str,
});

mail_templates!(LowBalanceText = "mail/low_balance.txt", LowBalanceHtml = "mail/low_balance.html" {
    balance: &'a str,
    threshold: &'a str,
    billing_link: &'a str,
});

/// What a top-up receipt mail says; amounts are already formatted with their currency.
#[derive(Debug, Clone, Copy)]
pub struct Receipt<'a> {
    pub amount: &'a str,
    pub balance: &'a str,
    pub when: &'a str,
    /// Our payment id, which is also the receipt number.
    pub receipt_id: &'a str,
}

/// Confirms that a top-up was paid and credited, with a link to the printable receipt.
pub fn topup_receipt(ctx: &MailContext, to: &str, name: &str, receipt: &Receipt<'_>) -> Email {
    let layout = Layout::new(
        ctx,
        &format!("Payment received: {}", receipt.amount),
        name,
        format!(
            "You got this mail because you added credit to your {} account.",
            ctx.site_name
        ),
    );
    let receipt_link = ctx.link(&format!(
        "/dashboard/billing/receipts/{}",
        receipt.receipt_id
    ));
    compose(
        to,
        &layout,
        &ReceiptText {
            layout: &layout,
            amount: receipt.amount,
            balance: receipt.balance,
            when: receipt.when,
            receipt_id: receipt.receipt_id,
            receipt_link: &receipt_link,
        },
        &ReceiptHtml {
            layout: &layout,
            amount: receipt.amount,
            balance: receipt.balance,
            when: receipt.when,
            receipt_id: receipt.receipt_id,
            receipt_link: &receipt_link,
        },
    )
}

/// Warns that the balance fell below the threshold the user chose.
pub fn low_balance(
    ctx: &MailContext,
    to: &str,
    name: &str,
    balance: &str,
    threshold: &str,
) -> Email {
    let layout = Layout::new(
        ctx,
        &format!("Your balance is low: {balance}"),
        name,
        format!(
            "You got this mail because you set a low-balance warning for your {} account.",
            ctx.site_name
        ),
    );
    let billing_link = ctx.link("/dashboard/billing");
    compose(
        to,
        &layout,
        &LowBalanceText {
            layout: &layout,
            balance,
            threshold,
            billing_link: &billing_link,
        },
        &LowBalanceHtml {
            layout: &layout,
            balance,
            threshold,
            billing_link: &billing_link,
        },
    )
}

/// Confirms an erasure to the address of the account that is gone: what was deleted and what
/// was kept. Queue it with [`queue_once`], so that the address goes once it is delivered.
pub fn account_erased(ctx: &MailContext, to: &str, name: &str, deleted: &str, kept: &str) -> Email {
    let layout = Layout::new(
        ctx,
        "Your account has been deleted",
        name,
        format!(
            "You got this mail because the {} account with this address was deleted.",
            ctx.site_name
        ),
    );
    compose(
        to,
        &layout,
        &ErasedText {
            layout: &layout,
            deleted,
            kept,
        },
        &ErasedHtml {
            layout: &layout,
            deleted,
            kept,
        },
    )
}

/// Tells an account holder that the privacy policy and terms changed.
pub fn policy_changed(
    ctx: &MailContext,
    to: &str,
    name: &str,
    date: &str,
    earlier_date: &str,
) -> Email {
    let layout = Layout::new(
        ctx,
        "Our privacy policy has changed",
        name,
        format!(
            "You got this mail because you have a {} account; notices like this one are sent to every account holder.",
            ctx.site_name
        ),
    );
    let link = ctx.link("/privacy");
    let earlier_link = ctx.link(&format!("/privacy/{earlier_date}"));
    compose(
        to,
        &layout,
        &PolicyText {
            layout: &layout,
            date,
            link: &link,
            earlier_link: &earlier_link,
        },
        &PolicyHtml {
            layout: &layout,
            date,
            link: &link,
            earlier_link: &earlier_link,
        },
    )
}

/// A technical or administrative notice from the admins; `kind` names which in the footer.
pub fn notice(
    ctx: &MailContext,
    to: &str,
    name: &str,
    kind: &str,
    title: &str,
    body: &str,
) -> Email {
    let layout = Layout::new(
        ctx,
        title,
        name,
        format!(
            "You got this {kind} notice because you have a {} account; the admins send these about the service itself.",
            ctx.site_name
        ),
    );
    compose(
        to,
        &layout,
        &NoticeText {
            layout: &layout,
            body,
        },
        &NoticeHtml {
            layout: &layout,
            body,
        },
    )
}

mail_templates!(NoticeText = "mail/notice.txt", NoticeHtml = "mail/notice.html" {
    body: &'a str,
});

mail_templates!(PolicyText = "mail/policy_changed.txt", PolicyHtml = "mail/policy_changed.html" {
    date: &'a str,
    link: &'a str,
    earlier_link: &'a str,
});

mail_templates!(ErasedText = "mail/account_erased.txt", ErasedHtml = "mail/account_erased.html" {
    deleted: &'a str,
    kept: &'a str,
});

mail_templates!(FlagText = "mail/abuse_flag.txt", FlagHtml = "mail/abuse_flag.html" {
    what: &'a str,
    detail: &'a str,
    action: Option<&'a str>,
    link: &'a str,
});

/// Tells an admin of a new flag: which rule, what it saw (metadata only) and what the server
/// already did about it.
pub fn abuse_flag(
    ctx: &MailContext,
    to: &str,
    name: &str,
    what: &str,
    detail: &str,
    action: Option<&str>,
) -> Email {
    let layout = Layout::new(
        ctx,
        &format!("Flag: {what}"),
        name,
        format!(
            "You got this mail because you administer {} and [abuse] mail_admins is on.",
            ctx.site_name
        ),
    );
    let (detail, link) = (&one_line(detail), &ctx.link("/admin/flags"));
    compose(
        to,
        &layout,
        &FlagText {
            layout: &layout,
            what,
            detail,
            action,
            link,
        },
        &FlagHtml {
            layout: &layout,
            what,
            detail,
            action,
            link,
        },
    )
}

/// Puts a mail in the outbox (table `email_outbox`); the sender delivers it. Call
/// [`Mailer::wake`] once the surrounding transaction has committed.
pub fn queue(conn: &rusqlite::Connection, email: &Email, now_ms: i64) -> rusqlite::Result<()> {
    insert(conn, email, false, now_ms)
}

/// Like [`queue`], for a mail whose row (recipient and subject) is deleted as soon as it is
/// delivered, rather than kept for `privacy.outbox_retention_days`.
pub fn queue_once(conn: &rusqlite::Connection, email: &Email, now_ms: i64) -> rusqlite::Result<()> {
    insert(conn, email, true, now_ms)
}

fn insert(
    conn: &rusqlite::Connection,
    email: &Email,
    purge_on_send: bool,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let mail = crate::db::outbox::NewMail {
        to: &email.to,
        subject: &email.subject,
        text: &email.text,
        html: &email.html,
        purge_on_send,
    };
    crate::db::outbox::insert(conn, &mail, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: MailContext<'static> = MailContext {
        site_name: "Acme Gateway",
        public_url: "https://api.acme.test",
        contact_email: Some("help@acme.test"),
    };

    const LINK: &str = "https://api.acme.test/verify?token=abc_DEF-123&next=%2Fkeys";

    #[test]
    fn verify_mail_has_link_footer_and_both_parts() {
        let mail = verify_email(&CTX, " ada@example.test ", LINK);
        assert_eq!(mail.to, "ada@example.test");
        assert_eq!(mail.subject, "Confirm your email address");
        assert!(mail.text.starts_with("Hello,\n\n"), "{}", mail.text);
        // The link stands on a line of its own, so no client glues punctuation to it.
        assert!(mail.text.contains(&format!("\n{LINK}\n")), "{}", mail.text);
        assert!(
            mail.text
                .contains("\n-- \nAcme Gateway · https://api.acme.test\n")
        );
        assert!(mail.text.contains("used to sign up at Acme Gateway"));
        assert!(mail.text.contains("help@acme.test"));

        // Askama writes `&` as `&#38;`, which every HTML parser reads back as `&`.
        let html_link = LINK.replace('&', "&#38;");
        assert!(
            mail.html.contains(&format!("href=\"{html_link}\"")),
            "{}",
            mail.html
        );
        assert!(
            mail.html
                .contains("<title>Confirm your email address</title>")
        );
        assert!(mail.html.contains("mailto:help@acme.test"));
        assert!(mail.html.contains("https://api.acme.test"));
    }

    #[test]
    fn each_mail_says_what_it_is_for() {
        let reset = password_reset(&CTX, "a@x.test", "Ada", LINK);
        assert_eq!(reset.subject, "Reset your password");
        assert!(reset.text.contains("30 minutes"));
        assert!(reset.text.contains("If this wasn't you, ignore this mail"));
        assert!(reset.html.contains("30 minutes"));

        let change = email_change(&CTX, "new@x.test", LINK);
        assert_eq!(change.to, "new@x.test");
        assert_eq!(change.subject, "Confirm your new email address");
        assert!(change.text.contains(LINK));
        assert!(
            change.text.starts_with("Hello,\n"),
            "nothing the requester chose"
        );

        let alert = security_alert(
            &CTX,
            "a@x.test",
            "Ada",
            "Your password was changed",
            "203.0.113.9",
            "2026-11-27 10:00 UTC",
        );
        assert_eq!(alert.subject, "Security alert: Your password was changed");
        for part in [&alert.text, &alert.html] {
            assert!(part.contains("Your password was changed"));
            assert!(part.contains("203.0.113.9"));
            assert!(part.contains("2026-11-27 10:00 UTC"));
            assert!(part.contains("Forgot your password?"));
            assert!(part.contains("help@acme.test"));
        }
    }

    #[test]
    fn html_escapes_what_users_wrote_and_text_keeps_it() {
        let name = "<script>alert(1)</script>";
        let mail = password_reset(&CTX, "a@x.test", name, LINK);
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(
            mail.html
                .contains("Hello &#60;script&#62;alert(1)&#60;/script&#62;,")
        );
        assert!(mail.text.contains("Hello <script>alert(1)</script>,"));

        let alert = security_alert(&CTX, "a@x.test", name, "<b>x</b>", "<ip>", "<when>");
        assert!(!alert.html.contains("<b>x</b>"));
        assert!(!alert.html.contains("<ip>"));
    }

    #[test]
    fn values_cannot_add_lines_to_headers_or_greeting() {
        let alert = security_alert(
            &CTX,
            "a@x.test",
            "Ada\r\nBcc: evil@x.test",
            "Changed\r\nBcc: evil@x.test",
            "1.2.3.4",
            "now",
        );
        assert!(!alert.subject.contains(['\r', '\n']));
        assert!(alert.text.starts_with("Hello Ada  Bcc: evil@x.test,\n"));
    }

    #[test]
    fn nameless_accounts_get_a_plain_greeting_and_no_contact_line() {
        let ctx = MailContext {
            contact_email: None,
            ..CTX
        };
        let mail = password_reset(&ctx, "a@x.test", "  ", LINK);
        assert!(mail.text.starts_with("Hello,\n"));
        assert!(!mail.text.contains("Questions?"));
        assert!(!mail.html.contains("mailto:"));
    }

    #[test]
    fn debug_output_keeps_links_out() {
        let mail = password_reset(&CTX, "a@x.test", "Ada", LINK);
        let debug = format!("{mail:?}");
        assert!(debug.contains("a@x.test") && debug.contains("Reset your password"));
        assert!(!debug.contains("token"), "{debug}");
    }

    #[test]
    fn billing_mails_carry_their_amounts_and_links() {
        let receipt = topup_receipt(
            &CTX,
            "a@x.test",
            "Ada",
            &Receipt {
                amount: "$25.00",
                balance: "$125.00",
                when: "2026-11-27 10:00 UTC",
                receipt_id: "pay123",
            },
        );
        assert_eq!(receipt.subject, "Payment received: $25.00");
        for part in [&receipt.text, &receipt.html] {
            assert!(part.contains("$125.00") && part.contains("2026-11-27 10:00 UTC"));
            assert!(part.contains("https://api.acme.test/dashboard/billing/receipts/pay123"));
        }
        let low = low_balance(&CTX, "a@x.test", "Ada", "$0.80", "$1.00");
        assert_eq!(low.subject, "Your balance is low: $0.80");
        for part in [&low.text, &low.html] {
            assert!(part.contains("$1.00"));
            assert!(part.contains("https://api.acme.test/dashboard/billing"));
        }
    }

    #[test]
    fn links_are_built_from_the_public_url() {
        let ctx = MailContext {
            public_url: "https://api.acme.test/",
            ..CTX
        };
        assert_eq!(ctx.link("/reset?t=1"), "https://api.acme.test/reset?t=1");
        assert_eq!(ctx.link("reset"), "https://api.acme.test/reset");
    }
}
