//! `GET /status/{case}/files/{name}`: a file an adapter uploaded for a case, as a download
//! (never rendered: `Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`),
//! and only a file the case lists, from the case's own folder.

use crate::http::{ApiError, AppState};
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpResponse};
use tokio::io::AsyncReadExt;
use trafficlight_actors::allocator;

/// Bytes read from disk per chunk of a download.
const CHUNK: usize = 64 * 1024;

/// Registers the download route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/status/{case}/files/{name}", web::get().to(download));
}

async fn download(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (case_id, name) = path.into_inner();
    let case = state
        .allocator
        .send(allocator::CaseStatus(case_id.clone()))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no test case {case_id}")))?;
    // Only names the case itself lists, which the upload handler made plain file names.
    let plain = !name.contains(['/', '\\']) && name != ".." && name != "." && !name.starts_with(".partial-");
    if !plain || !case.files.contains(&name) {
        return Err(ApiError::NotFound(format!("test case {case_id} has no file named {name:?}")));
    }
    let file_path = state.config.output.join(&case.id).join(&name);
    let file = tokio::fs::File::open(&file_path)
        .await
        .map_err(|e| ApiError::NotFound(format!("file {name:?} of test case {case_id} cannot be read: {e}")))?;
    let stream = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(name)],
    };
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(disposition)
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"))
        .streaming(stream))
}
