//! What every request and answer of `infer serve` passes through, kept apart from the API
//! because it concerns all routes alike:
//!
//! - [`check_host`]: on loopback, a request addressed to another host name is refused (403).
//!   A web page of another site can make the visitor's browser send requests to 127.0.0.1 under
//!   its own name (DNS rebinding) and read the answers; the Host header gives it away.
//! - [`security_headers`]: `X-Content-Type-Options: nosniff` and `Referrer-Policy` on every
//!   answer (the page adds its Content-Security-Policy, see [`page`](super::page)).
//! - [`json_errors`]: every error status has a `{"error": "..."}` body, whoever made it (axum
//!   answers some requests itself, with empty bodies).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, is_json};

/// Which Host headers the server answers.
#[derive(Clone, Debug)]
pub enum HostCheck {
    /// Any: bound beyond loopback, the server is meant to be reached by names it cannot know.
    Any,
    /// Only these (lower case): this machine's names for the address, with the port.
    Only(Arc<[String]>),
}

impl HostCheck {
    /// The check for a server listening on `address`: on a loopback address, `localhost`,
    /// `127.0.0.1`, `[::1]` and the address itself, with the port (without it too on port 80,
    /// where browsers leave it out); elsewhere, any.
    pub fn for_address(address: SocketAddr) -> Self {
        if !address.ip().is_loopback() {
            return Self::Any;
        }
        let bound = match address.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let port = address.port();
        let mut hosts: Vec<String> = Vec::new();
        for name in ["localhost", "127.0.0.1", "[::1]", &bound] {
            let mut forms = vec![format!("{name}:{port}")];
            if port == 80 {
                forms.push(name.to_string());
            }
            for form in forms {
                if !hosts.contains(&form) {
                    hosts.push(form);
                }
            }
        }
        Self::Only(hosts.into())
    }
}

/// Refuses (403) a request whose Host header is not one [`HostCheck`] allows.
pub async fn check_host(State(check): State<HostCheck>, request: Request, next: Next) -> Response {
    if let HostCheck::Only(allowed) = &check {
        let host = request.headers().get(header::HOST).map(HeaderValue::to_str);
        let known = match host {
            Some(Ok(host)) => allowed.iter().any(|a| a.eq_ignore_ascii_case(host.trim())),
            _ => false,
        };
        if !known {
            let given = match host {
                None => "no Host header".to_string(),
                Some(Ok(host)) => format!("Host '{host}'"),
                Some(Err(_)) => "a Host header that is not text".to_string(),
            };
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this server answers requests addressed to {} only, not {given} (a page \
                     of another site must not reach it: DNS rebinding)",
                    allowed.join(", ")
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Adds the headers every answer carries.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Gives an error answer that has no JSON body one: `{"error": "<the status's reason>"}`,
/// keeping its other headers (a 405's `Allow`).
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let reason = status.canonical_reason().unwrap_or("error");
    let mut answer = ApiError::new(status, reason.to_lowercase()).into_response();
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    answer.headers_mut().extend(parts.headers);
    answer
}
