//! The page itself: HTML, CSS and plain JavaScript, embedded in the binary (no CDN, no npm
//! build step; it works offline). The files live in `assets/` beside this one.
//!
//! The page is served with a Content-Security-Policy that lets it load its own script and style
//! sheet and call its own API, and nothing else: no inline script or style (it has none: keep
//! it so, or the browser refuses them), no other origin, no frames around it.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const TRAIN_JS: &str = include_str!("assets/train.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The page's Content-Security-Policy (see the top of this file).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// `GET /`.
pub async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        INDEX_HTML,
    )
}

/// `GET /app.js`.
pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
}

/// `GET /train.js`: the "Train here" card.
pub async fn train_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        TRAIN_JS,
    )
}

/// `GET /style.css`.
pub async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE_CSS,
    )
}
