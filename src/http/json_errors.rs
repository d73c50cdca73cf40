//! Every error answered with a JSON body `{"error": ..., "code": ...}`, including those
//! that actix-web's extractors and routing produce as plain text or with no body.
//! Errors raised while parsing the raw request (a malformed request line: 400, headers too
//! large: 431, a request head that never completes: 408) are answered by the HTTP/1 parser
//! before any application code runs, and keep actix's empty bodies.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use serde_json::json;

/// The largest error body that is kept as the message.
const MAX_MESSAGE_BYTES: usize = 4096;

/// Middleware: rewrites a 4xx/5xx answer that is not JSON into our JSON error body.
pub async fn json_error_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let text = match to_bytes(body).await {
        Ok(bytes) if !bytes.is_empty() && bytes.len() <= MAX_MESSAGE_BYTES => {
            String::from_utf8_lossy(&bytes).trim().to_string()
        }
        _ => String::new(),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    let body = json!({ "error": message, "code": code_of(status) }).to_string();
    let mut res = res.set_body(BoxBody::new(body));
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(ServiceResponse::new(req, res))
}

/// The `code` word of a status, as [`super::ApiError`] uses them.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        413 => "too_large",
        415 => "unsupported_media_type",
        431 => "headers_too_large",
        500..=599 => "internal",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, web, App, HttpResponse};

    #[actix_web::test]
    async fn plain_text_and_empty_errors_become_json_and_the_rest_is_untouched() {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(json_error_bodies))
                .route(
                    "/text",
                    web::get().to(|| async { Err::<HttpResponse, _>(actix_web::error::ErrorBadRequest("bad things")) }),
                )
                .route("/empty", web::get().to(|| async { HttpResponse::PayloadTooLarge().finish() }))
                .route("/json", web::get().to(|| async { HttpResponse::Conflict().json(json!({"error": "mine"})) }))
                .route("/ok", web::get().to(|| async { HttpResponse::Ok().body("fine") })),
        )
        .await;
        let cases = [
            ("/text", 400, json!({"error": "bad things", "code": "bad_request"})),
            ("/empty", 413, json!({"error": "payload too large", "code": "too_large"})),
            ("/json", 409, json!({"error": "mine"})),
        ];
        for (path, status, body) in cases {
            let res = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status().as_u16(), status, "{path}");
            assert_eq!(res.headers().get(CONTENT_TYPE).unwrap(), "application/json", "{path}");
            let got: serde_json::Value = test::read_body_json(res).await;
            assert_eq!(got, body, "{path}");
        }
        let res = test::call_service(&app, test::TestRequest::get().uri("/ok").to_request()).await;
        assert_eq!(test::read_body(res).await, "fine");
    }
}
