//! The HTML pages the login shows the browser: the login page (the request
//! as a QR code and a wallet link, and the script that polls for the
//! wallet's answer), the logout form and the logged-out page. Every page is
//! served with a strict Content-Security-Policy, never cached, never framed.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::login::paths::STATUS;
use crate::request::body::{full, GatewayBody};
use crate::request::refusal::html_escape;

pub(super) fn html(status: StatusCode, body: String) -> Response<GatewayBody> {
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn page(title: &str, body: &str, script: Option<&str>) -> String {
    let script = script
        .map(|s| format!("<script>{s}</script>"))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         .qr svg{{width:16rem;height:16rem}} code{{word-break:break-all;font-size:.8rem}}\
         #status{{font-weight:600}} .hint{{color:#555;font-size:.9rem}}\
         </style></head><body>{body}{script}</body></html>\n",
        title = html_escape(title),
    )
}

/// The login page: `wallet_url` as a QR code and a link, and a script that
/// polls the login's status by its `state` and goes on when it is done.
pub(super) fn login_page(wallet_url: &str, state: &str, step_up: bool) -> String {
    let qr = qrcode::QrCode::with_error_correction_level(wallet_url, qrcode::EcLevel::L)
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(256, 256)
                .build()
        })
        .unwrap_or_default();
    let url = html_escape(wallet_url);
    let what = if step_up {
        "This page needs a fresh login: present your credential again."
    } else {
        "Present your credential with your wallet to continue."
    };
    let body = format!(
        "<h1>Log in with your wallet</h1><p>{what}</p>\
         <div class=\"qr\" aria-label=\"QR code of the wallet request\">{qr}</div>\
         <p><a id=\"wallet-link\" href=\"{url}\">Open your wallet on this device</a></p>\
         <p class=\"hint\">Or answer with <code>didgate wallet login --holder-key KEY --vc CREDENTIAL 'REQUEST'</code>, \
         where REQUEST is:</p><p><code id=\"request-url\">{url}</code></p>\
         <p id=\"status\" role=\"status\">Waiting for your wallet…</p>",
    );
    page("Log in", &body, Some(&poll_script(state)))
}

/// The login page's poll of `/.didgate/login/status`: what it says for each
/// status the endpoint answers.
fn poll_script(state: &str) -> String {
    // A JSON string inside <script>: no "</script>" can end it early.
    let state = serde_json::to_string(state)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    format!(
        "const state={state};const el=document.getElementById('status');\
         async function poll(){{try{{const r=await fetch('{STATUS}?state='+encodeURIComponent(state),\
         {{credentials:'same-origin',cache:'no-store'}});const s=await r.json();\
         if(s.status==='presented'||s.status==='done'){{el.textContent='Logged in; continuing…';location.replace(s.next);return;}}\
         if(s.status==='expired'){{el.textContent='This login request expired. Reload the page to try again.';return;}}\
         if(s.status==='declined'){{el.textContent='Your wallet declined ('+(s.error||'no reason')+'). Reload to try again.';return;}}\
         if(s.status==='unknown'){{el.textContent='This login was started in another browser. Reload to start here.';return;}}\
         if(s.last_error){{el.textContent='The last presentation was refused: '+s.last_error+'. Waiting for another…';}}\
         }}catch(e){{}}setTimeout(poll,1000);}}setTimeout(poll,1000);",
    )
}

/// `GET /.didgate/logout`: a form that logs out (a POST, so a link or an
/// image elsewhere cannot).
pub(super) fn logout_page() -> Response<GatewayBody> {
    html(
        StatusCode::OK,
        page(
            "Log out",
            "<h1>Log out</h1><form method=\"post\" action=\"/.didgate/logout\">\
             <button type=\"submit\">Log out everywhere</button></form>",
            None,
        ),
    )
}

/// What a browser that logged out sees.
pub(super) fn logged_out_page() -> Response<GatewayBody> {
    html(
        StatusCode::OK,
        page(
            "Logged out",
            "<h1>You are logged out</h1><p>The session has ended on every gateway.</p>\
             <p><a href=\"/.didgate/login\">Log in again</a></p>",
            None,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let p = login_page("openid4vp://?a=<b>&c=\"d\"", "s\"</script>", false);
        assert!(p.contains("openid4vp://?a=&lt;b&gt;&amp;c=&quot;d&quot;"));
        assert!(
            !p.contains("s\"</script>"),
            "state is a JSON string in the script"
        );
        assert!(p.contains("<svg"), "the QR code is drawn");
    }
}
