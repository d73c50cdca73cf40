//! `POST /client/{uuid}/upload`: files from adapters (logs, screenshots, snapshots),
//! stored under the case's directory as `{client}_{file}`.

use super::body::check_uuid;
use super::{ApiError, AppState};
use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use futures::StreamExt;
use serde_json::json;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use trafficlight_actors::adapter::{self, UploadRefused, UploadTarget};
use trafficlight_actors::allocator::{Forward, UnknownAdapter};
use trafficlight_actors::case;

/// Registers the upload route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/client/{uuid}/upload", web::post().to(upload));
}

async fn upload(
    state: web::Data<AppState>,
    uuid: web::Path<String>,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    check_uuid(&uuid)?;
    let uuid = uuid.into_inner();
    let target = match state.allocator.send(Forward(uuid.clone(), adapter::Upload)).await? {
        Err(UnknownAdapter) => return Err(super::unknown_adapter(&uuid)),
        Ok(Err(e @ UploadRefused::NotAllocated(_))) => return Err(ApiError::Conflict(e.to_string())),
        Ok(Ok(target)) => target,
    };
    let mut written = Vec::new();
    let limits = (state.config.upload_limit, state.config.upload_stall);
    let result = store_files(multipart, &target, limits, &mut written).await;
    match result {
        Ok(names) => {
            target.case.do_send(case::AddFiles(names.clone()));
            Ok(HttpResponse::Ok().json(json!({ "files": names })))
        }
        Err(e) => {
            // Nothing of a refused upload stays on disk, finished files included.
            for path in written {
                let _ = tokio::fs::remove_file(path).await;
            }
            Err(e)
        }
    }
}

/// Streams every file part to disk; `written` lists every path touched, for clean-up.
async fn store_files(
    mut multipart: Multipart,
    target: &UploadTarget,
    (limit, stall): (u64, std::time::Duration),
    written: &mut Vec<PathBuf>,
) -> Result<Vec<String>, ApiError> {
    let mut total: u64 = 0;
    let mut stored = Vec::new();
    let mut staged = Vec::new();
    while let Some(field) = stalling_after(stall, multipart.next()).await? {
        let mut field = field.map_err(|e| ApiError::BadRequest(format!("bad multipart body: {e}")))?;
        let Some(raw_name) = field.content_disposition().and_then(|d| d.get_filename()).map(str::to_owned) else {
            continue; // a plain form field, not a file
        };
        let name = format!("{}_{}", target.client, clean_file_name(&raw_name)?);
        tokio::fs::create_dir_all(&target.dir)
            .await
            .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", target.dir.display())))?;
        let partial = target.dir.join(format!(".partial-{}-{name}", staged.len()));
        written.push(partial.clone());
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| ApiError::Internal(format!("cannot write {}: {e}", partial.display())))?;
        while let Some(chunk) = stalling_after(stall, field.next()).await? {
            let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the upload broke off: {e}")))?;
            total += chunk.len() as u64;
            if total > limit {
                return Err(ApiError::TooLarge(format!("the upload is over the limit of {limit} bytes")));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| ApiError::Internal(format!("cannot write {}: {e}", partial.display())))?;
        }
        file.flush().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        staged.push((partial, name));
    }
    if staged.is_empty() {
        return Err(ApiError::BadRequest(
            "the upload has no file parts (multipart/form-data with filename=...)".into(),
        ));
    }
    for (partial, name) in staged {
        let dest = target.dir.join(&name);
        tokio::fs::rename(&partial, &dest)
            .await
            .map_err(|e| ApiError::Internal(format!("cannot store {name}: {e}")))?;
        written.push(dest);
        stored.push(name);
    }
    Ok(stored)
}

/// `next` (the next part, or the next piece of one), or 408 if the client sends nothing
/// for `stall`: an adapter whose upload stream broke must get an answer, not hang.
async fn stalling_after<T>(
    stall: std::time::Duration,
    next: impl std::future::Future<Output = T>,
) -> Result<T, ApiError> {
    tokio::time::timeout(stall, next)
        .await
        .map_err(|_| ApiError::Timeout(format!("the upload stalled: no data for {:.1} s", stall.as_secs_f64())))
}

/// A file name as adapters send it, reduced to its last path component; names that
/// climb directories (`..`), hide control characters or are empty are refused.
pub fn clean_file_name(raw: &str) -> Result<String, ApiError> {
    let refuse = |why: &str| ApiError::BadRequest(format!("refused file name {raw:?}: {why}"));
    if raw.chars().any(char::is_control) {
        return Err(refuse("it contains control characters"));
    }
    if raw.split(['/', '\\']).any(|part| part == "..") {
        return Err(refuse("it climbs out of its directory with '..'"));
    }
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base.starts_with('.') {
        return Err(refuse("it has no usable name (empty or hidden)"));
    }
    if Path::new(base).components().count() != 1 {
        return Err(refuse("it is not a plain file name"));
    }
    Ok(base.to_string())
}
