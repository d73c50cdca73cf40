//! `POST /client/{uuid}/upload`: files from adapters (logs, screenshots, snapshots),
//! stored under the case's directory as `{client}_{file}`.

use super::body::check_uuid;
use super::file_name::clean_file_name;
use super::{ApiError, AppState};
use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use futures::StreamExt;
use serde_json::json;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use trafficlight_actors::adapter::{self, UploadRefused, UploadTarget};
use trafficlight_actors::allocator::CaseFiles;

/// Registers the upload route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/client/{uuid}/upload", actix_web::http::Method::POST, upload));
}

async fn upload(
    state: web::Data<AppState>,
    uuid: web::Path<String>,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    check_uuid(&uuid)?;
    let uuid = uuid.into_inner();
    let reply = match state.ask(&uuid, adapter::Upload).await? {
        Ok(reply) => reply,
        // A finished adapter's late uploads still go with its case.
        Err(retired) => retired.upload.clone().ok_or_else(|| UploadRefused::NotAllocated(uuid.clone())),
    };
    let target = match reply {
        Err(e @ UploadRefused::NotAllocated(_)) => return Err(ApiError::Conflict(e.to_string())),
        Ok(target) => target,
    };
    let mut written = Vec::new();
    let limits = (state.config.upload_limit, state.config.body_stall);
    let result = store_files(multipart, &target, limits, &mut written).await;
    match result {
        Ok(names) => {
            state.allocator.do_send(CaseFiles { case_id: target.case_id.clone(), names: names.clone() });
            Ok(HttpResponse::Ok().json(json!({ "files": names })))
        }
        Err(e) => {
            // Nothing of a refused upload stays on disk: its temporary files go.
            for path in written {
                let _ = tokio::fs::remove_file(path).await;
            }
            Err(e)
        }
    }
}

/// Streams every file part to disk under a temporary name of its own (two uploads of one
/// name at once never share a file), then renames each into place: the last to finish
/// wins, whole. The limit counts every part, plain form fields included. `written` lists
/// every path touched, for clean-up. Error messages never name a server path.
async fn store_files(
    mut multipart: Multipart,
    target: &UploadTarget,
    (limit, stall): (u64, std::time::Duration),
    written: &mut Vec<PathBuf>,
) -> Result<Vec<String>, ApiError> {
    let mut total: u64 = 0;
    let mut count = |len: usize| {
        total += len as u64;
        if total > limit {
            Err(ApiError::TooLarge(format!("the upload is over the limit of {limit} bytes (all parts counted)")))
        } else {
            Ok(())
        }
    };
    let mut stored = Vec::new();
    let mut staged = Vec::new();
    while let Some(field) = stalling_after(stall, multipart.next()).await? {
        let mut field = field.map_err(|e| ApiError::BadRequest(format!("bad multipart body: {e}")))?;
        let Some(raw_name) = field.content_disposition().and_then(|d| d.get_filename()).map(str::to_owned) else {
            // A plain form field, not a file: read and counted, not stored.
            while let Some(chunk) = stalling_after(stall, field.next()).await? {
                count(chunk.map_err(|e| ApiError::BadRequest(format!("the upload broke off: {e}")))?.len())?;
            }
            continue;
        };
        let name = format!("{}_{}", target.client, clean_file_name(&raw_name)?);
        tokio::fs::create_dir_all(&target.dir)
            .await
            .map_err(|e| disk_error("create the case's directory", &target.dir, e))?;
        let partial = target.dir.join(format!(".upload-{}.partial", uuid::Uuid::new_v4()));
        written.push(partial.clone());
        let mut file =
            tokio::fs::File::create(&partial).await.map_err(|e| disk_error("store the file", &partial, e))?;
        while let Some(chunk) = stalling_after(stall, field.next()).await? {
            let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the upload broke off: {e}")))?;
            count(chunk.len())?;
            file.write_all(&chunk).await.map_err(|e| disk_error("store the file", &partial, e))?;
        }
        file.flush().await.map_err(|e| disk_error("store the file", &partial, e))?;
        staged.push((partial, name));
    }
    if staged.is_empty() {
        return Err(ApiError::BadRequest(
            "the upload has no file parts (multipart/form-data with filename=...)".into(),
        ));
    }
    for (partial, name) in staged {
        let dest = target.dir.join(&name);
        tokio::fs::rename(&partial, &dest).await.map_err(|e| disk_error("store the file", &dest, e))?;
        stored.push(name);
    }
    Ok(stored)
}

/// A failure of our disk: logged with its path, answered without it (500).
fn disk_error(what: &str, path: &Path, e: std::io::Error) -> ApiError {
    log::error!("upload: cannot {what} at {}: {e}", path.display());
    ApiError::Internal(format!("cannot {what}: {}", e.kind()))
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
