//! The operator's dashboard page: hand-written HTML, CSS and JavaScript compiled into the
//! binary, so a node serves it with no build step and the browser fetches nothing from any
//! other host. The page polls the JSON API under `/api/v1/`.
//!
//! Every answer forbids loading anything from elsewhere (`Content-Security-Policy:
//! default-src 'self'`, which also refuses inline scripts) and asks the browser to revalidate,
//! so a node upgraded in place never runs with last version's script.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE_CSS: &str = include_str!("dashboard/style.css");

/// The policy on every dashboard answer: scripts, styles, images and `fetch` from this origin
/// only.
pub const CSP: &str = "default-src 'self'";

const NOSNIFF: (HeaderName, &str) = (HeaderName::from_static("x-content-type-options"), "nosniff");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache"),
            (CONTENT_SECURITY_POLICY, CSP),
            NOSNIFF,
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /assets/app.js`.
pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /assets/style.css`.
pub async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// `GET /favicon.ico`: browsers ask for it unprompted; an empty answer keeps a 404 out of the
/// page's console.
pub async fn favicon() -> Response {
    (StatusCode::NO_CONTENT, [(CACHE_CONTROL, "max-age=86400")]).into_response()
}
