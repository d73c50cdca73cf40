//! Uploads as an unlucky or hostile adapter sends them (issue 9): two uploads of one file
//! name at once, file names too long or hiding Unicode format characters, and a request
//! whose plain form fields carry the bulk. Each is answered with a clear JSON error or
//! stored whole; none gives a 500 or a server path.
//!
//! Bad inputs tried: two concurrent uploads of `dup.bin` (4 KiB of 'A' held open while
//! 4 KiB of 'B' is sent whole); file names of 201 bytes, 300 characters and 10 KiB;
//! `evil\u{202E}txt.exe`, `a\u{200B}b.txt`, `\u{FEFF}bom.txt`; a 5000-byte plain form
//! field beside a small file under a 1000-byte limit.

mod common;

use awc::http::StatusCode;
use common::{alice, gated, raw_exchange, upload_head, Gate, TestApp};

/// Waits (at most 20 s) until a temporary upload file exists in the output directory.
async fn wait_for_partial_file(app: &TestApp) {
    for _ in 0..400 {
        if app.files_on_disk().iter().any(|f| f.rsplit('/').next().is_some_and(|n| n.starts_with('.'))) {
            return;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no upload started writing within 20 s: {:?}", app.files_on_disk());
}

#[actix_web::test]
async fn two_uploads_of_one_name_at_once_both_succeed_and_the_last_to_finish_is_stored_whole() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let (a, b) = (vec![b'A'; 4096], vec![b'B'; 4096]);
    let (_, a_body) = common::multipart(&[("dup.bin", &a)]);
    let (_, b_body) = common::multipart(&[("dup.bin", &b)]);
    let addr = app.base.trim_start_matches("http://").to_string();
    // A sends its head and half its file, then waits while B is sent whole.
    let mut first = upload_head("a", a_body.len()).into_bytes();
    first.extend_from_slice(&a_body[..a_body.len() / 2]);
    let rest = a_body[a_body.len() / 2..].to_vec();
    let b_answer = std::cell::RefCell::new(String::new());
    let a_answer = raw_exchange(
        &addr,
        first,
        async {
            wait_for_partial_file(&app).await;
            let mut whole = upload_head("a", b_body.len()).into_bytes();
            whole.extend_from_slice(&b_body);
            *b_answer.borrow_mut() = raw_exchange(&addr, whole, async {}, Vec::new()).await;
        },
        rest,
    )
    .await;
    let b_answer = b_answer.into_inner();
    assert!(b_answer.starts_with("HTTP/1.1 200"), "the second upload: {b_answer}");
    assert!(a_answer.starts_with("HTTP/1.1 200"), "the first upload, finished last: {a_answer}");
    let files = app.files_on_disk();
    assert_eq!(files.len(), 1, "one stored file, no temporary leftovers: {files:?}");
    assert!(files[0].ends_with("alice_dup.bin"), "{files:?}");
    let stored = std::fs::read(app.output.path().join(&files[0])).unwrap();
    assert!(stored == a, "the last to finish (A) is stored whole, not a mix ({} bytes)", stored.len());
    gate.open();
}

#[actix_web::test]
async fn long_file_names_are_refused_with_400_and_no_server_path() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let output = app.output.path().display().to_string();
    for name in ["x".repeat(197) + ".txt", "L".repeat(300), "n".repeat(10 * 1024)] {
        let (status, body) = app.upload("a", &[(&name, b"data")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}-byte name: {body}", name.len());
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("at most 200"), "{}-byte name: {error}", name.len());
        assert!(!error.contains(&output) && !error.contains(".partial"), "a server path leaks: {error}");
        assert!(error.len() < 400, "the message quotes a short part of the name: {error}");
    }
    let (status, body) = app.upload("a", &[(&"y".repeat(190), b"data")]).await;
    assert_eq!(status, StatusCode::OK, "a 190-byte name is fine: {body}");
    gate.open();
}

#[actix_web::test]
async fn file_names_with_invisible_format_characters_are_refused() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    for name in ["evil\u{202E}txt.exe", "a\u{200B}b.txt", "\u{FEFF}bom.txt", "rtl\u{2067}x.log"] {
        let (status, body) = app.upload("a", &[(name, b"data")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {body}");
        assert!(body["error"].as_str().unwrap_or_default().contains("format characters"), "{name:?}: {body}");
    }
    assert!(app.files_on_disk().is_empty(), "{:?}", app.files_on_disk());
    let (status, body) = app.upload("a", &[("résumé ☃.txt", b"data")]).await;
    assert_eq!(status, StatusCode::OK, "visible non-ASCII names are fine: {body}");
    gate.open();
}

#[actix_web::test]
async fn the_upload_limit_counts_every_part_not_only_the_files() {
    let gate = Gate::default();
    let app = TestApp::spawn_with(|c| c.upload_limit = 1000, alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let boundary = "trafficlight-test-boundary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"notafile\"\r\n\r\n").into_bytes();
    body.extend_from_slice(&[b'z'; 5000]);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"small.bin\"\r\n\r\nsmall\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, answer) = app.post_raw("/client/a/upload", Some(&content_type), body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(answer["error"].as_str().unwrap_or_default().contains("limit of 1000 bytes"), "{answer}");
    assert!(app.files_on_disk().is_empty(), "{:?}", app.files_on_disk());
    gate.open();
}
