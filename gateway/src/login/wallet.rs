//! The wallet's answer, `POST /.didgate/login/response` (OpenID4VP
//! `direct_post`), in its steps: read the answer (a form, in time, to a
//! login request of this gateway that has not expired; nothing is recorded
//! of one that is not), judge it (declined, refused, or presented), record
//! the login's row (each login is answered once), audit, and answer the
//! wallet. A presented login answers with where the wallet sends the
//! browser: `…/complete?response_code=…`.

use std::net::IpAddr;

use http::{header, HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::login::cx::{audit, fill_principal, login_record, sessions_of, store_error, LoginCx};
use crate::login::openid4vp::AuthorizationResponse;
use crate::login::paths::RESPONSE;
use crate::login::reply::json_response;
use crate::login::state::{Login, LoginResult, LoginState};
use crate::request::authn::AuthMethod;
use crate::request::body::{read_limited, GatewayBody, ReadError};
use crate::request::principal::Principal;
use crate::request::reason::Reason;
use crate::request::refusal::{credential_refusal, Refusal};
use crate::request::session::{new_secret, secret_hash};
use crate::store::{LoginRow, LoginStatus};
use audit::{DecisionRecord, Effect};

/// Largest wallet answer read (a few credentials as JWTs fit many times over).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// `POST /.didgate/login/response`.
pub(super) async fn wallet_response(
    cx: &LoginCx<'_>,
    login: &Login,
    req: Request<Incoming>,
    client_ip: IpAddr,
    now_ms: i64,
) -> Result<Response<GatewayBody>, Refusal> {
    let store = sessions_of(cx)?.store();
    let Answer {
        state,
        opened,
        response,
    } = match read_answer(login, req, now_ms).await {
        Ok(answer) => answer,
        Err(unread) => return Ok(unread.response()),
    };
    let verdict = judge(cx, login, &state, response, client_ip, now_ms).await;
    let mut row = opened.answer_row(&state, now_ms);
    verdict.settle(&mut row);
    if !store.record_login_answer(&row).await.map_err(store_error)? {
        return Ok(WalletError::answered().response());
    }
    let mut record = login_record(cx, RESPONSE, client_ip, now_ms);
    record.auth_method = Some(AuthMethod::OpenId4Vp.as_str());
    let answer = verdict.decide(login, &mut record);
    audit(cx, record).await?;
    Ok(answer)
}

/// A wallet's answer the gateway could read, to one of its login requests
/// that has not expired.
struct Answer {
    /// The request's state, as the wallet sent it back.
    state: String,
    opened: LoginState,
    response: AuthorizationResponse,
}

/// Read the wallet's answer.
async fn read_answer(
    login: &Login,
    req: Request<Incoming>,
    now_ms: i64,
) -> Result<Answer, WalletError> {
    if !is_form(req.headers()) {
        return Err(WalletError::invalid(
            StatusCode::BAD_REQUEST,
            "unsupported_media_type",
            "send application/x-www-form-urlencoded (response_mode direct_post)",
        ));
    }
    let body = read_limited(req.into_body(), MAX_RESPONSE_BYTES, login.body_timeout)
        .await
        .map_err(unreadable)?;
    let response = AuthorizationResponse::from_form(&body)
        .map_err(|e| WalletError::invalid(StatusCode::BAD_REQUEST, "malformed_response", e.0))?;
    let state = match &response {
        AuthorizationResponse::Presentation { state, .. }
        | AuthorizationResponse::Error { state, .. } => state.clone(),
    };
    let Some(opened) = login.open(&state) else {
        return Err(WalletError::invalid(
            StatusCode::BAD_REQUEST,
            "login_unknown",
            "this state is not one of a login request of this gateway",
        ));
    };
    if now_ms >= opened.expires_ms {
        return Err(WalletError::invalid(
            StatusCode::BAD_REQUEST,
            "login_expired",
            "this login request has expired; start again",
        ));
    }
    Ok(Answer {
        state,
        opened,
        response,
    })
}

/// Whether the answer is a form (`response_mode=direct_post`).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

/// Why an answer's body could not be read.
fn unreadable(e: ReadError) -> WalletError {
    match e {
        ReadError::TimedOut => WalletError::invalid(
            StatusCode::REQUEST_TIMEOUT,
            "request_body_timeout",
            "the response stopped arriving before it was complete",
        ),
        ReadError::TooLarge => WalletError::invalid(
            StatusCode::PAYLOAD_TOO_LARGE,
            "response_too_large",
            "the response is larger than 256 KiB",
        ),
        ReadError::Broken => WalletError::invalid(
            StatusCode::BAD_REQUEST,
            "malformed_response",
            "the response could not be read",
        ),
    }
}

/// What the gateway makes of an answer it could read.
enum Verdict {
    /// The wallet declined (or failed): its OAuth error code.
    Declined(String),
    /// The presentation is refused; the login waits for another.
    Refused(Refusal),
    /// A presentation of a credential the login asks for, verified.
    Presented {
        principal: Principal,
        /// The `result` column: what the completion verifies again.
        result: String,
        /// The response code that finishes the login, and its hash.
        code: String,
        code_hash: String,
    },
}

/// Judge an answer: a presentation must verify for this request (its
/// `client_id` as audience, its nonce) and be of a credential type the
/// login asks for.
async fn judge(
    cx: &LoginCx<'_>,
    login: &Login,
    state: &str,
    response: AuthorizationResponse,
    client_ip: IpAddr,
    now_ms: i64,
) -> Verdict {
    let token = match response {
        AuthorizationResponse::Error { error, .. } => return Verdict::Declined(error),
        AuthorizationResponse::Presentation { vp_token, .. } => vp_token,
    };
    let client_id = login.client_id();
    let nonce = login.nonce(state);
    let expected = credentials::Expected {
        audience: Some(&client_id),
        nonce: Some(&nonce),
    };
    let verified = cx
        .authn
        .verifier()
        .verify_login(&token, now_ms / 1000, expected)
        .await;
    let (vp, binding) = match verified {
        Ok(v) => v,
        Err(e) => {
            let refusal = credential_refusal(&e);
            if refusal.status() == StatusCode::UNAUTHORIZED {
                if let Some(engine) = &cx.risk {
                    engine.observe_failed_authentication(client_ip, now_ms);
                }
            }
            return Verdict::Refused(refusal);
        }
    };
    let asked = vp
        .credentials
        .iter()
        .any(|vc| vc.types.iter().any(|t| login.credential_types.contains(t)));
    if !asked {
        return Verdict::Refused(Refusal::new(
            Reason::CredentialNotRequested,
            "none of the presented credentials is of a type this login asks for",
        ));
    }
    let (code_secret, code) = new_secret();
    Verdict::Presented {
        result: LoginResult::column(&binding),
        principal: Principal::from_credentials(vp.holder, vp.credentials),
        code,
        code_hash: hex::encode(secret_hash(&code_secret)),
    }
}

impl Verdict {
    /// What the login's row records of the verdict. A refused presentation
    /// leaves the login pending, with why it was refused.
    fn settle(&self, row: &mut LoginRow) {
        match self {
            Verdict::Declined(error) => {
                row.status = LoginStatus::Declined;
                row.last_error = Some(error.chars().take(64).collect());
            }
            Verdict::Refused(refusal) => {
                row.last_error = Some(refusal.code().to_owned());
            }
            Verdict::Presented {
                result, code_hash, ..
            } => {
                row.status = LoginStatus::Presented;
                row.code_hash = Some(code_hash.clone());
                row.result = Some(result.clone());
            }
        }
    }

    /// What the decision log records of the verdict, and the wallet's answer.
    fn decide(self, login: &Login, record: &mut DecisionRecord) -> Response<GatewayBody> {
        match self {
            Verdict::Declined(_) => {
                record.reason = "login_declined";
                record.status = Some(200);
                json_response(StatusCode::OK, &json!({}))
            }
            Verdict::Refused(refusal) => {
                record.status = Some(refusal.status().as_u16());
                record.reason = refusal.code();
                WalletError::refused(refusal).response()
            }
            Verdict::Presented {
                principal, code, ..
            } => {
                fill_principal(record, &principal);
                record.effect = Effect::Allow;
                record.reason = "login_presented";
                let redirect = format!("{}?response_code={code}", login.complete_uri);
                json_response(StatusCode::OK, &json!({ "redirect_uri": redirect }))
            }
        }
    }
}

/// OpenID4VP's error answer to the wallet: a JSON body with an OAuth error
/// code and didgate's reason code in the description.
struct WalletError {
    status: StatusCode,
    error: &'static str,
    code: &'static str,
    message: String,
}

impl WalletError {
    fn invalid(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        WalletError {
            status,
            error: "invalid_request",
            code,
            message: message.into(),
        }
    }

    /// The login was answered (presented or declined) already.
    fn answered() -> Self {
        Self::invalid(
            StatusCode::BAD_REQUEST,
            "login_unknown",
            "this login was answered already",
        )
    }

    /// A refused presentation; one our side could not check is to be
    /// retried (`temporarily_unavailable`).
    fn refused(refusal: Refusal) -> Self {
        let status = refusal.status();
        let error = if status == StatusCode::SERVICE_UNAVAILABLE {
            "temporarily_unavailable"
        } else {
            "invalid_request"
        };
        WalletError {
            status,
            error,
            code: refusal.code(),
            message: refusal.message,
        }
    }

    fn response(self) -> Response<GatewayBody> {
        let body = json!({
            "error": self.error,
            "error_description": format!("{}: {}", self.code, self.message),
        });
        json_response(self.status, &body)
    }
}
