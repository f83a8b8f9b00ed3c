//! Bearer-token authorisation for the requests that change state.

use axum::http::{header, HeaderMap, StatusCode};

use super::ApiError;
use crate::config::ApiToken;

/// Lets the request through if it carries `Authorization: Bearer <token>` with the configured
/// token: 401 without it or with another, 403 when no token is configured at all.
pub fn authorize(headers: &HeaderMap, token: Option<&ApiToken>) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this request changes state: send `Authorization: Bearer <token>` ([api] token_file)",
        ));
    };
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "state changes are disabled: no [api] token_file or token_env is configured",
        ));
    };
    if token.matches(presented) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong token"))
    }
}
