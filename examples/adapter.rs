//! A minimal adapter: registers as a client type, long-polls for actions, answers each
//! with `{"response": "<action>_done"}` (or fails the ones named in `--fail`), and stops
//! on `exit`. A stand-in for a real client when trying out scenarios.
//!
//!     cargo run --example adapter -- element-web [--url http://127.0.0.1:5000] [--fail send_message]

use serde_json::{json, Value};
use std::time::Duration;

#[actix_web::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client_type = args.first().cloned().unwrap_or_else(|| "element-web".into());
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let base = flag("--url")
        .or_else(|| std::env::var("TRAFFICLIGHT_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:5000".into());
    let failing = flag("--fail");
    let uuid = uuid::Uuid::new_v4().to_string();
    let http = awc::Client::builder().timeout(Duration::from_secs(90)).finish();

    let registered = http
        .post(format!("{base}/client/{uuid}/register"))
        .send_json(&json!({"type": client_type, "version": "example"}))
        .await;
    match registered {
        Ok(r) if r.status().is_success() => println!("registered {uuid} as {client_type} at {base}"),
        Ok(r) => return eprintln!("registration refused: {}", r.status()),
        Err(e) => return eprintln!("cannot reach {base}: {e}"),
    }
    let mut answer = poll(&http, &base, &uuid).await;
    loop {
        let action = answer["action"].as_str().unwrap_or("").to_string();
        match action.as_str() {
            "exit" => return println!("exit: {}", answer["data"]["reason"]),
            "idle" => answer = poll(&http, &base, &uuid).await,
            _ if failing.as_deref() == Some(action.as_str()) => {
                println!("{action} {} -> reporting an action error", answer["data"]);
                let error = json!({"error": {"type": "action", "details": format!("{action} was told to fail"), "path": "examples/adapter.rs"}});
                let _ = http.post(format!("{base}/client/{uuid}/error")).send_json(&error).await;
                answer = poll(&http, &base, &uuid).await;
            }
            _ => {
                println!("{action} {}", answer["data"]);
                let body = json!({"response": format!("{action}_done"), "id": answer["id"]});
                answer = match http.post(format!("{base}/client/{uuid}/respond?wait=30")).send_json(&body).await {
                    Ok(mut r) => r.json().await.unwrap_or_else(|_| json!({"action": "idle"})),
                    Err(e) => return eprintln!("respond failed: {e}"),
                };
            }
        }
    }
}

async fn poll(http: &awc::Client, base: &str, uuid: &str) -> Value {
    loop {
        match http.get(format!("{base}/client/{uuid}/poll?wait=30")).send().await {
            Ok(mut r) => {
                return r.json().await.unwrap_or_else(|_| json!({"action": "exit", "data": {"reason": "bad answer"}}))
            }
            Err(e) => {
                eprintln!("poll failed ({e}); retrying");
                actix_web::rt::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
