//! `GET /status/events`: the actors' events as Server-Sent Events, which open pages apply
//! in place. `?case=ID` keeps only that case's events (its page needs no others). A page
//! that falls too far behind is sent `resync` and reloads itself.

use crate::http::AppState;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use trafficlight_actors::events::Event;

/// How often an idle stream sends a comment, so proxies keep it open and a closed page is
/// noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Registers the event stream.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/status/events", web::get().to(events));
}

#[derive(Debug, Default, Deserialize)]
struct EventsQuery {
    case: Option<String>,
}

fn concerns(event: &Event, case: &str) -> bool {
    match event {
        Event::Case { id, .. } => id == case,
        Event::CaseEnded { case: c } => c.id == case,
        Event::Action { case_id, .. } => case_id == case,
        Event::Adapter { case_id, .. } => case_id.as_deref() == Some(case),
    }
}

/// One SSE message: `event: NAME` and the event as JSON on one `data:` line.
pub fn sse_message(event: &Event) -> Bytes {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: {}\ndata: {data}\n\n", event.name()))
}

async fn events(state: web::Data<AppState>, query: web::Query<EventsQuery>) -> HttpResponse {
    let receiver = state.events.subscribe();
    let only = query.into_inner().case;
    let hello = Bytes::from_static(b"retry: 2000\nevent: hello\ndata: {}\n\n");
    let stream = futures::stream::unfold((receiver, only, Some(hello)), |(mut receiver, only, first)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, actix_web::Error>(first), (receiver, only, None)));
        }
        loop {
            let next = tokio::time::timeout(KEEP_ALIVE, receiver.recv()).await;
            let bytes = match next {
                Err(_) => Bytes::from_static(b": keep-alive\n\n"),
                Ok(Ok(event)) if only.as_deref().is_none_or(|c| concerns(&event, c)) => sse_message(&event),
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(_))) => Bytes::from_static(b"event: resync\ndata: {}\n\n"),
                Ok(Err(RecvError::Closed)) => return None,
            };
            return Some((Ok(bytes), (receiver, only, None)));
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
}
