//! Buying credit: a top-up starts as an open payment and a Stripe Checkout Session, and the
//! wallet is credited only when Stripe's signed webhook says the money arrived. Refunds take the
//! refunded part back out; disputes are flagged for an admin. Every event is handled in one
//! transaction together with the record that it was seen, so a redelivered event changes nothing.

use rusqlite::Connection;

use super::service::{self, BillingError};
use super::stripe::{
    ChargeInfo, CheckoutRequest, DisputeInfo, Event, EventError, EventKind, SessionInfo,
    SignatureError, StripeClient, StripeError, micros_to_minor, minor_to_micros, parse_event,
    verify_signature,
};
use crate::auth::token;
use crate::config::BillingConfig;
use crate::db::billing::{self as repo, Payment, PaymentStatus};
use crate::db::ledger::{Entry, Kind};
use crate::db::{Db, DbError};
use crate::mail::{self, MailContext, Receipt};
use crate::money::Money;

/// The line item's name on Stripe's payment page.
const PRODUCT_NAME: &str = "Account credit";

#[derive(Debug, thiserror::Error)]
pub enum TopupError {
    /// The amount is not one that can be bought; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// Stripe refused or could not be reached. The cause is for the log only.
    #[error("payment provider failed: {0}")]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Reads a top-up amount as typed ("25", "12.50") and checks it against the configured bounds
/// and the currency's smallest unit.
pub fn parse_amount(billing: &BillingConfig, text: &str) -> Result<Money, TopupError> {
    let currency = &billing.currency;
    let range = || {
        format!(
            "Choose an amount from {} to {}.",
            billing.topup_min.display_in(currency),
            billing.topup_max.display_in(currency)
        )
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(TopupError::Invalid(range()));
    }
    let amount: Money = text
        .parse()
        .map_err(|_| TopupError::Invalid(format!("\"{text}\" is not an amount. {}", range())))?;
    if amount < billing.topup_min || amount > billing.topup_max {
        return Err(TopupError::Invalid(range()));
    }
    if micros_to_minor(amount.micros(), currency).is_none() {
        return Err(TopupError::Invalid(format!(
            "{} cannot be charged in {currency}: use fewer decimal places.",
            amount.to_decimal_string()
        )));
    }
    Ok(amount)
}

/// Who is buying, and where Stripe sends them back to.
pub struct Buyer<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    /// The site's public URL, without a trailing slash.
    pub public_url: &'a str,
}

/// Records an open payment, makes its Checkout Session and returns the URL of Stripe's payment
/// page. The payment id is the idempotency key, so a retried call cannot make a second session.
/// On failure the payment is closed as failed.
pub async fn start(
    db: &Db,
    stripe: &StripeClient,
    billing: &BillingConfig,
    buyer: &Buyer<'_>,
    amount: Money,
) -> Result<String, TopupError> {
    let currency = billing.currency.clone();
    let amount_minor = micros_to_minor(amount.micros(), &currency)
        .ok_or_else(|| TopupError::Invalid("That amount cannot be charged.".to_owned()))?;
    let payment_id = token::random_id();
    {
        let (id, user, currency) = (
            payment_id.clone(),
            buyer.user_id.to_owned(),
            currency.clone(),
        );
        db.run(move |conn| {
            repo::insert_payment(
                conn,
                &id,
                &user,
                amount.micros(),
                &currency,
                crate::db::now_ms(),
            )
        })
        .await?;
    }
    let success_url = format!(
        "{}/dashboard/billing/topup/done?session_id={{CHECKOUT_SESSION_ID}}",
        buyer.public_url
    );
    let cancel_url = format!("{}/dashboard/billing/topup/cancelled", buyer.public_url);
    let request = CheckoutRequest {
        amount_minor,
        currency: &currency,
        product_name: PRODUCT_NAME,
        success_url: &success_url,
        cancel_url: &cancel_url,
        client_reference_id: buyer.user_id,
        customer_email: Some(buyer.email),
        payment_id: &payment_id,
        idempotency_key: &payment_id,
    };
    let id = payment_id.clone();
    match stripe.create_checkout_session(&request).await {
        Ok(session) => {
            let url = session.url.clone();
            db.run(move |conn| repo::set_session(conn, &id, &session.id, crate::db::now_ms()))
                .await?;
            Ok(url)
        }
        Err(e) => {
            let closed = db
                .run(move |conn| {
                    repo::close_open(conn, &id, PaymentStatus::Failed, crate::db::now_ms())
                })
                .await;
            if let Err(db_error) = closed {
                tracing::warn!(
                    "could not close payment {payment_id} after a failed checkout: {db_error}"
                );
            }
            Err(TopupError::Stripe(e))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// Why a webhook delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no Stripe-Signature header")]
    NoSignature,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("unreadable event: {0}")]
    Event(#[from] EventError),
}

/// Checks the signature over the exact body received, then reads the event.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    tolerance_secs: u64,
    now_secs: i64,
) -> Result<Event, WebhookError> {
    let header = header.ok_or(WebhookError::NoSignature)?;
    let tolerance = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    verify_signature(header, body, secret, now_secs, tolerance)?;
    Ok(parse_event(body)?)
}

/// What handling an event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The event id was handled before; nothing changed.
    Duplicate,
    /// Recorded; `mail` says whether a mail was queued (wake the mailer).
    Done { mail: bool },
}

/// What the webhook needs besides the event: the wallet currency and how mails are addressed.
pub struct Shop<'a> {
    pub currency: &'a str,
    pub mail: MailContext<'a>,
}

/// Handles one verified event in one IMMEDIATE transaction. Only database failures are errors
/// (Stripe should retry those); an event about a payment that is not ours, or that does not add
/// up, is logged, flagged where money is involved, and recorded as handled.
pub fn apply(
    conn: &mut Connection,
    event: &Event,
    shop: &Shop<'_>,
    now: i64,
) -> Result<Handled, DbError> {
    let tx = crate::db::write(conn)?;
    if !repo::record_event(&tx, &event.id, kind_name(&event.kind), now)? {
        return Ok(Handled::Duplicate);
    }
    let mail = match &event.kind {
        EventKind::CheckoutCompleted(session) if session.payment_status == "paid" => {
            credit(&tx, event, session, shop, now)?
        }
        EventKind::CheckoutCompleted(session) => {
            // A delayed payment method: the money is not there yet; one of the async events
            // follows.
            if let Some(payment) = find_session_payment(&tx, event, session)? {
                repo::note_references(
                    &tx,
                    &payment.id,
                    session.payment_intent.as_deref(),
                    session.customer.as_deref(),
                    now,
                )?;
            }
            false
        }
        EventKind::CheckoutAsyncSucceeded(session) => credit(&tx, event, session, shop, now)?,
        EventKind::CheckoutAsyncFailed(session) => {
            if let Some(payment) = find_session_payment(&tx, event, session)? {
                repo::close_open(&tx, &payment.id, PaymentStatus::Failed, now)?;
            }
            false
        }
        EventKind::CheckoutExpired(session) => {
            if let Some(payment) = find_session_payment(&tx, event, session)? {
                repo::close_open(&tx, &payment.id, PaymentStatus::Expired, now)?;
            }
            false
        }
        EventKind::ChargeRefunded(charge) => {
            refund(&tx, event, charge, now)?;
            false
        }
        EventKind::DisputeCreated(dispute) => {
            flag_dispute(&tx, event, dispute, now)?;
            false
        }
        EventKind::Other(_) => false,
    };
    tx.commit()?;
    Ok(Handled::Done { mail })
}

fn kind_name(kind: &EventKind) -> &str {
    match kind {
        EventKind::CheckoutCompleted(_) => "checkout.session.completed",
        EventKind::CheckoutAsyncSucceeded(_) => "checkout.session.async_payment_succeeded",
        EventKind::CheckoutAsyncFailed(_) => "checkout.session.async_payment_failed",
        EventKind::CheckoutExpired(_) => "checkout.session.expired",
        EventKind::ChargeRefunded(_) => "charge.refunded",
        EventKind::DisputeCreated(_) => "charge.dispute.created",
        EventKind::Other(name) => name,
    }
}

fn book(conn: &Connection, entry: &Entry<'_>) -> Result<i64, DbError> {
    service::book_in(conn, entry).map_err(|e| match e {
        BillingError::Db(e) => e,
        BillingError::Invalid(_) => DbError::NotFound,
    })
}

/// The payment a Checkout Session event is about: by session id, else by the payment id in its
/// metadata (the webhook can overtake the storing of the session id).
fn find_session_payment(
    conn: &Connection,
    event: &Event,
    session: &SessionInfo,
) -> Result<Option<Payment>, DbError> {
    if let Some(payment) = repo::payment_by_session(conn, &session.session_id)? {
        return Ok(Some(payment));
    }
    let by_metadata = match &session.payment_id {
        Some(id) => repo::payment(conn, id)?,
        None => None,
    };
    match by_metadata {
        Some(payment) if payment.session_id.is_none() => {
            repo::set_session(conn, &payment.id, &session.session_id, crate::db::now_ms())?;
            Ok(Some(payment))
        }
        Some(payment) => {
            tracing::warn!(
                "Stripe event {} names payment {} but a session it does not have; ignored",
                event.id,
                payment.id
            );
            Ok(None)
        }
        None => {
            tracing::warn!(
                "Stripe event {} is about a checkout session that matches no payment; ignored",
                event.id
            );
            Ok(None)
        }
    }
}

/// Credits a paid Checkout Session to its payment's wallet, once; true if a receipt was queued.
fn credit(
    conn: &Connection,
    event: &Event,
    session: &SessionInfo,
    shop: &Shop<'_>,
    now: i64,
) -> Result<bool, DbError> {
    if session.payment_status != "paid" {
        tracing::warn!(
            "Stripe event {} reports a session that is {}, not paid; nothing credited",
            event.id,
            session.payment_status
        );
        return Ok(false);
    }
    let Some(payment) = find_session_payment(conn, event, session)? else {
        return Ok(false);
    };
    let Some(user_id) = payment.user_id.as_deref() else {
        let detail = format!(
            "payment {} was paid after its account was erased; refund it from Stripe",
            payment.id
        );
        tracing::warn!("Stripe event {}: {detail}; nothing credited", event.id);
        repo::insert_flag(
            conn,
            now,
            None,
            "payment_mismatch",
            Some(&payment.id),
            &detail,
        )?;
        return Ok(false);
    };
    let mismatch = |detail: String| -> Result<bool, DbError> {
        tracing::warn!("Stripe event {}: {detail}; nothing credited", event.id);
        repo::insert_flag(
            conn,
            now,
            Some(user_id),
            "payment_mismatch",
            Some(&payment.id),
            &detail,
        )?;
        Ok(false)
    };
    if session.client_reference_id.as_deref() != Some(user_id) {
        return mismatch(format!(
            "payment {} belongs to another account than the checkout session names",
            payment.id
        ));
    }
    if !session.currency.eq_ignore_ascii_case(&payment.currency)
        || !session.currency.eq_ignore_ascii_case(shop.currency)
    {
        return mismatch(format!(
            "payment {} was made in {}, not {}",
            payment.id, session.currency, payment.currency
        ));
    }
    let Some(amount) = minor_to_micros(session.amount_total, &session.currency).filter(|a| *a > 0)
    else {
        return mismatch(format!(
            "payment {} has an unusable amount {}",
            payment.id, session.amount_total
        ));
    };
    repo::note_references(
        conn,
        &payment.id,
        session.payment_intent.as_deref(),
        session.customer.as_deref(),
        now,
    )?;
    if !repo::mark_paid(conn, &payment.id, now)? {
        tracing::info!(
            "Stripe event {}: payment {} was credited before",
            event.id,
            payment.id
        );
        return Ok(false);
    }
    if amount != payment.amount {
        let detail = format!(
            "payment {} asked for {} but Stripe collected {}",
            payment.id,
            Money::from_micros(payment.amount).display_in(shop.currency),
            Money::from_micros(amount).display_in(shop.currency)
        );
        tracing::warn!("Stripe event {}: {detail}", event.id);
        repo::insert_flag(
            conn,
            now,
            Some(user_id),
            "payment_amount",
            Some(&payment.id),
            &detail,
        )?;
    }
    let balance = book(
        conn,
        &Entry {
            user_id,
            kind: Kind::Topup,
            amount,
            reference: Some(&payment.id),
            actor: "stripe",
            note: Some("Top-up by card"),
            at: now,
        },
    )?;
    tracing::info!("payment {} paid and credited", payment.id);
    let Some((email, name, _)) = repo::recipient(conn, user_id)? else {
        return Ok(false);
    };
    let (amount, balance, when) = (
        Money::from_micros(amount).display_in(shop.currency),
        Money::from_micros(balance).display_in(shop.currency),
        crate::clock::format_ms(now),
    );
    let receipt = mail::topup_receipt(
        &shop.mail,
        &email,
        &name,
        &Receipt {
            amount: &amount,
            balance: &balance,
            when: &when,
            receipt_id: &payment.id,
        },
    );
    mail::queue(conn, &receipt, now)?;
    Ok(true)
}

/// Takes the newly refunded part of a charge back out of the wallet. `amount_refunded` is the
/// running total, so a redelivered or overtaken event debits nothing twice.
fn refund(conn: &Connection, event: &Event, charge: &ChargeInfo, now: i64) -> Result<(), DbError> {
    let payment = match &charge.payment_id {
        Some(id) => repo::payment(conn, id)?,
        None => None,
    };
    let payment = match (payment, &charge.payment_intent) {
        (Some(p), _) => Some(p),
        (None, Some(intent)) => repo::payment_by_intent(conn, intent)?,
        (None, None) => None,
    };
    let Some(payment) = payment else {
        tracing::warn!(
            "Stripe event {}: refund of charge {} matches no payment; ignored",
            event.id,
            charge.charge_id
        );
        return Ok(());
    };
    let total = minor_to_micros(charge.amount_refunded, &charge.currency);
    let Some(total) = total.filter(|_| charge.currency.eq_ignore_ascii_case(&payment.currency))
    else {
        let detail = format!(
            "refund of payment {} in {} ({}) could not be applied",
            payment.id, charge.currency, charge.amount_refunded
        );
        tracing::warn!("Stripe event {}: {detail}", event.id);
        return repo::insert_flag(
            conn,
            now,
            payment.user_id.as_deref(),
            "refund_mismatch",
            Some(&payment.id),
            &detail,
        );
    };
    let newly = total - payment.refunded;
    if newly <= 0 {
        tracing::info!(
            "Stripe event {}: refunds of payment {} were applied already",
            event.id,
            payment.id
        );
        return Ok(());
    }
    // An erased account's wallet is gone: the refund is recorded on the payment alone.
    if let Some(user_id) = payment.user_id.as_deref() {
        book(
            conn,
            &Entry {
                user_id,
                kind: Kind::Refund,
                amount: -newly,
                reference: Some(&payment.id),
                actor: "stripe",
                note: Some("Card payment refunded"),
                at: now,
            },
        )?;
    }
    let status = if payment.paid_at.is_some() {
        PaymentStatus::after_refund(payment.amount, total)
    } else {
        payment.status
    };
    repo::set_refunded(conn, &payment.id, total, status, now)?;
    tracing::info!("payment {} refunded in part or whole", payment.id);
    Ok(())
}

/// Marks the disputed payment and leaves a flag for an admin; the wallet is left alone until a
/// person has looked at it.
fn flag_dispute(
    conn: &Connection,
    event: &Event,
    dispute: &DisputeInfo,
    now: i64,
) -> Result<(), DbError> {
    let payment = match &dispute.payment_intent {
        Some(intent) => repo::payment_by_intent(conn, intent)?,
        None => None,
    };
    let amount = minor_to_micros(dispute.amount, &dispute.currency)
        .map(|m| Money::from_micros(m).display_in(&dispute.currency.to_ascii_uppercase()))
        .unwrap_or_else(|| format!("{} (minor units of {})", dispute.amount, dispute.currency));
    match payment {
        Some(payment) => {
            repo::mark_disputed(conn, &payment.id, now)?;
            let detail = format!(
                "Dispute {} over payment {} (charge {}): {amount}, reason {}",
                dispute.dispute_id, payment.id, dispute.charge_id, dispute.reason
            );
            tracing::warn!("Stripe event {}: {detail}", event.id);
            repo::insert_flag(
                conn,
                now,
                payment.user_id.as_deref(),
                "dispute",
                Some(&payment.id),
                &detail,
            )
        }
        None => {
            let detail = format!(
                "Dispute {} over charge {} that matches no payment: {amount}, reason {}",
                dispute.dispute_id, dispute.charge_id, dispute.reason
            );
            tracing::warn!("Stripe event {}: {detail}", event.id);
            repo::insert_flag(
                conn,
                now,
                None,
                "dispute",
                Some(&dispute.charge_id),
                &detail,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn billing() -> BillingConfig {
        BillingConfig {
            topup_min: "5".parse().unwrap(),
            topup_max: "500".parse().unwrap(),
            ..BillingConfig::default()
        }
    }

    #[test]
    fn amounts_must_be_in_bounds_and_chargeable() {
        let b = billing();
        assert_eq!(parse_amount(&b, " 12.50 ").unwrap().micros(), 12_500_000);
        assert_eq!(parse_amount(&b, "5").unwrap().micros(), 5_000_000);
        assert_eq!(parse_amount(&b, "500").unwrap().micros(), 500_000_000);
        for bad in ["", "4.99", "500.01", "abc", "-10", "10.005"] {
            assert!(
                matches!(parse_amount(&b, bad), Err(TopupError::Invalid(_))),
                "{bad}"
            );
        }
        let TopupError::Invalid(message) = parse_amount(&b, "1").unwrap_err() else {
            panic!("not invalid");
        };
        assert_eq!(message, "Choose an amount from $5.00 to $500.00.");
    }
}
