//! The distribution API's endpoints. Repository names contain slashes, so
//! requests are routed by hand from the end of the path rather than by axum's
//! path patterns; the raw (still percent-encoded) path is what gets checked,
//! so `%2e%2e` is just an invalid name.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use berth_image::spec::media;
use berth_store::{Digest, Hasher, HashingReader};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use crate::auth::{Htpasswd, REALM};
use crate::error::{At, Error, Result};
use crate::manifest;
use crate::names::{check_name, parse_digest, Reference};
use crate::storage::Storage;

mod uploads;
pub(crate) use uploads::upload_range;
use uploads::{cancel_upload, finish_upload, patch_upload, start_upload, upload_status, uuid_ok};

/// Manifests are read into memory to be checked; Docker's registry has the
/// same 4 MiB limit.
const MANIFEST_LIMIT: usize = 4 << 20;
const WRITE_BUFFER: usize = 1 << 20;
const READ_CHUNK: usize = 64 << 10;

pub struct AppState {
    pub storage: Storage,
    pub auth: Option<Htpasswd>,
    /// Per upload session: a lock so its requests run one at a time, and the
    /// running hash of its data (None when unknown, e.g. after a restart:
    /// the data is hashed again when the upload completes).
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Hasher>>>>>,
    /// At most this many upload sessions may be open at once.
    max_uploads: usize,
    /// Held while counting the open sessions and creating one, so racing
    /// POSTs cannot together pass the limit.
    opening_upload: Mutex<()>,
    /// Bounds the bcrypt verifications running at once to the CPUs: a flood
    /// of bad logins then queues instead of taking every blocking thread.
    bcrypt_slots: tokio::sync::Semaphore,
}

impl AppState {
    pub fn new(storage: Storage, auth: Option<Htpasswd>, max_uploads: usize) -> AppState {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        AppState {
            storage,
            auth,
            uploads: Mutex::new(HashMap::new()),
            max_uploads,
            opening_upload: Mutex::new(()),
            bcrypt_slots: tokio::sync::Semaphore::new(cpus),
        }
    }

    pub(crate) fn session(&self, uuid: &str) -> Arc<tokio::sync::Mutex<Option<Hasher>>> {
        let mut map = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(uuid.to_string()).or_default().clone()
    }

    pub(crate) fn forget_session(&self, uuid: &str) {
        self.uploads.lock().unwrap_or_else(|p| p.into_inner()).remove(uuid);
    }
}

type Shared = Arc<AppState>;

pub fn router(state: Shared) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&AppState) -> Result<T> + Send + 'static,
) -> Result<T> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut response = match dispatch(&state, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    tracing::debug!("{method} {path} -> {}", response.status());
    response.headers_mut().insert(
        HeaderName::from_static("docker-distribution-api-version"),
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

#[derive(Debug, PartialEq)]
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
}

fn route(path: &str) -> Result<Route> {
    let not_found = || Error::NotFound(path.to_string());
    let rest = path.strip_prefix("/v2").ok_or_else(not_found)?;
    match rest {
        "" | "/" => return Ok(Route::Base),
        "/_catalog" => return Ok(Route::Catalog),
        _ => {}
    }
    let rest = rest.strip_prefix('/').ok_or_else(not_found)?;
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| -> Result<String> {
        let name = segs[..n - k].join("/");
        check_name(&name)?;
        Ok(name)
    };
    // Matched from the end: a name may itself contain "blobs" or "manifests".
    let route = if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        Route::Tags(name(2)?)
    } else if n >= 2 && segs[n - 2] == "manifests" {
        Route::Manifest(name(2)?, segs[n - 1].to_string())
    } else if n >= 3 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        match segs[n - 1] {
            "" => Route::UploadStart(name(3)?),
            uuid => Route::Upload(name(3)?, uuid.to_string()),
        }
    } else if n >= 2 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        Route::UploadStart(name(2)?)
    } else if n >= 2 && segs[n - 2] == "blobs" {
        Route::Blob(name(2)?, segs[n - 1].to_string())
    } else if n >= 2 && segs[n - 2] == "referrers" {
        Route::Referrers(name(2)?, segs[n - 1].to_string())
    } else {
        return Err(not_found());
    };
    Ok(route)
}

async fn dispatch(state: &Shared, request: Request) -> Result<Response> {
    if let Some(auth) = &state.auth {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        if !auth.is_verified(header.as_deref()) {
            let _slot = state
                .bcrypt_slots
                .acquire()
                .await
                .map_err(|e| Error::Task(e.to_string()))?;
            let ok = blocking(state, move |s| {
                Ok(s.auth.as_ref().is_some_and(|a| a.check(header.as_deref())))
            })
            .await?;
            if !ok {
                return Err(Error::Unauthorized { realm: REALM.into() });
            }
        }
    }
    let (parts, body) = request.into_parts();
    let method = parts.method;
    let headers = parts.headers;
    let uri = parts.uri;
    let query: HashMap<String, String> = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let unsupported = || Err(Error::Unsupported(format!("{method} {}", uri.path())));
    match route(uri.path())? {
        Route::Base => match method {
            Method::GET | Method::HEAD => Ok(json_response(StatusCode::OK, json!({}))),
            _ => unsupported(),
        },
        Route::Catalog => match method {
            Method::GET => catalog(state, &query).await,
            _ => unsupported(),
        },
        Route::Tags(name) => match method {
            Method::GET => tags_list(state, name, &query).await,
            _ => unsupported(),
        },
        Route::Manifest(name, reference) => {
            let reference = Reference::parse(&decode_colon(&reference))?;
            match method {
                Method::GET => get_manifest(state, name, reference, &headers, true).await,
                Method::HEAD => get_manifest(state, name, reference, &headers, false).await,
                Method::PUT => put_manifest(state, name, reference, &headers, body).await,
                Method::DELETE => delete_manifest(state, name, reference).await,
                _ => unsupported(),
            }
        }
        Route::Blob(name, digest) => {
            let digest = parse_digest(&decode_colon(&digest))?;
            match method {
                Method::GET => get_blob(state, name, digest, &headers, true).await,
                Method::HEAD => get_blob(state, name, digest, &headers, false).await,
                Method::DELETE => delete_blob(state, name, digest).await,
                _ => unsupported(),
            }
        }
        Route::UploadStart(name) => match method {
            Method::POST => start_upload(state, name, &query, &headers, body).await,
            _ => unsupported(),
        },
        Route::Upload(name, uuid) => {
            if !uuid_ok(&uuid) {
                return Err(Error::BlobUploadUnknown(uuid));
            }
            match method {
                Method::GET => upload_status(state, name, uuid).await,
                Method::PATCH => patch_upload(state, name, uuid, &headers, body).await,
                Method::PUT => finish_upload(state, name, uuid, &query, &headers, body).await,
                Method::DELETE => cancel_upload(state, name, uuid).await,
                _ => unsupported(),
            }
        }
        Route::Referrers(name, digest) => match method {
            Method::GET => referrers(state, name, parse_digest(&decode_colon(&digest))?, &query).await,
            _ => unsupported(),
        },
    }
}

/// Some clients percent-encode the ':' of a digest.
fn decode_colon(s: &str) -> String {
    s.replace("%3A", ":").replace("%3a", ":")
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// A response with headers whose values came from validated input; a value
/// that still cannot be a header is dropped rather than panicking.
fn respond(status: StatusCode, headers: &[(&str, String)], body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let map = response.headers_mut();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(*name), HeaderValue::from_str(value)) {
            map.insert(name, value);
        }
    }
    response
}

// ---- content discovery ----

/// `n`/`last` pagination over a sorted list; returns the page and whether
/// more follow.
fn paginate(items: Vec<String>, query: &HashMap<String, String>) -> Result<(Vec<String>, Option<usize>, bool)> {
    let n = match query.get("n") {
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| Error::PaginationInvalid(format!("n={n:?} is not a count")))?,
        ),
        None => None,
    };
    let mut page: Vec<String> = match query.get("last") {
        Some(last) => items.into_iter().filter(|i| i.as_str() > last.as_str()).collect(),
        None => items,
    };
    let more = n.is_some_and(|n| page.len() > n);
    if let Some(n) = n {
        page.truncate(n);
    }
    Ok((page, n, more))
}

fn next_link(base: &str, page: &[String], n: Option<usize>, more: bool) -> Vec<(&'static str, String)> {
    match (more, page.last(), n) {
        (true, Some(last), Some(n)) => vec![("link", format!("<{base}?last={last}&n={n}>; rel=\"next\""))],
        _ => Vec::new(),
    }
}

async fn tags_list(state: &Shared, name: String, query: &HashMap<String, String>) -> Result<Response> {
    let repo = name.clone();
    let tags = blocking(state, move |s| s.storage.tags(&repo))
        .await?
        .ok_or_else(|| Error::NameUnknown(name.clone()))?;
    let (page, n, more) = paginate(tags, query)?;
    let link = next_link(&format!("/v2/{name}/tags/list"), &page, n, more);
    let mut response = json_response(StatusCode::OK, json!({ "name": name, "tags": page }));
    add_headers(&mut response, &link);
    Ok(response)
}

async fn catalog(state: &Shared, query: &HashMap<String, String>) -> Result<Response> {
    let repos = blocking(state, |s| s.storage.repositories()).await?;
    let (page, n, more) = paginate(repos, query)?;
    let link = next_link("/v2/_catalog", &page, n, more);
    let mut response = json_response(StatusCode::OK, json!({ "repositories": page }));
    add_headers(&mut response, &link);
    Ok(response)
}

fn add_headers(response: &mut Response, headers: &[(&str, String)]) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(*name), HeaderValue::from_str(value)) {
            response.headers_mut().insert(name, value);
        }
    }
}

async fn referrers(state: &Shared, name: String, subject: Digest, query: &HashMap<String, String>) -> Result<Response> {
    let mut list = blocking(state, move |s| s.storage.referrers(&name, &subject)).await?;
    let filter = query.get("artifactType").filter(|t| !t.is_empty());
    if let Some(wanted) = filter {
        list.retain(|d| d.get("artifactType").and_then(|t| t.as_str()) == Some(wanted.as_str()));
    }
    let body = json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": list });
    let mut headers = vec![("content-type", media::OCI_INDEX.to_string())];
    if filter.is_some() {
        headers.push(("oci-filters-applied", "artifactType".to_string()));
    }
    Ok(respond(StatusCode::OK, &headers, Body::from(body.to_string())))
}

// ---- manifests ----

async fn resolve(state: &Shared, name: &str, reference: &Reference) -> Result<(Digest, String)> {
    let (repo, reference) = (name.to_string(), reference.clone());
    blocking(state, move |s| {
        let digest = match &reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => s
                .storage
                .tag(&repo, t)?
                .ok_or_else(|| Error::ManifestUnknown(format!("{repo}:{t}")))?,
        };
        match s.storage.manifest_media_type(&repo, &digest)? {
            Some(media_type) => Ok((digest, media_type)),
            None => Err(Error::ManifestUnknown(format!("{repo}@{digest}"))),
        }
    })
    .await
}

async fn get_manifest(
    state: &Shared,
    name: String,
    reference: Reference,
    headers: &HeaderMap,
    with_body: bool,
) -> Result<Response> {
    let (digest, media_type) = resolve(state, &name, &reference).await?;
    let d = digest.clone();
    let bytes = blocking(state, move |s| s.storage.read_blob(&d)).await?;
    let etag = format!("\"{digest}\"");
    let common = [
        ("content-type", media_type),
        ("docker-content-digest", digest.to_string()),
        ("etag", etag.clone()),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok(respond(StatusCode::NOT_MODIFIED, &common, Body::empty()));
    }
    let mut all = common.to_vec();
    all.push(("content-length", bytes.len().to_string()));
    let body = if with_body { Body::from(bytes) } else { Body::empty() };
    Ok(respond(StatusCode::OK, &all, body))
}

async fn put_manifest(
    state: &Shared,
    name: String,
    reference: Reference,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    // Refused before reading when the client says up front how big it is.
    if let Some(size) = content_length(headers).filter(|n| *n > MANIFEST_LIMIT as u64) {
        return Err(Error::ManifestTooLarge {
            size,
            limit: MANIFEST_LIMIT as u64,
        });
    }
    let bytes = match axum::body::to_bytes(body, MANIFEST_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) => {
            if e.to_string().contains("length limit") {
                return Err(Error::ManifestTooLarge {
                    size: MANIFEST_LIMIT as u64 + 1,
                    limit: MANIFEST_LIMIT as u64,
                });
            }
            return Err(Error::ManifestInvalid(format!("reading the request body: {e}")));
        }
    };
    let digest = Digest::of(&bytes);
    if let Reference::Digest(expected) = &reference {
        if *expected != digest {
            return Err(Error::DigestInvalid(format!(
                "manifest pushed as {expected} has digest {digest}"
            )));
        }
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let checked = manifest::check(&bytes, content_type)?;
    let repo = name.clone();
    let d = digest.clone();
    let subject = checked.subject.clone();
    blocking(state, move |s| {
        for (blob, size) in &checked.blobs {
            match s.storage.blob_in_repo(&repo, blob) {
                None => return Err(Error::ManifestBlobUnknown(blob.to_string())),
                Some(actual) if actual != *size => {
                    return Err(Error::ManifestInvalid(format!(
                        "descriptor of {blob} says {size} bytes, the blob has {actual}"
                    )))
                }
                Some(_) => {}
            }
        }
        for child in &checked.manifests {
            if s.storage.manifest_media_type(&repo, child)?.is_none() {
                return Err(Error::ManifestBlobUnknown(child.to_string()));
            }
        }
        let tag = match &reference {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        let descriptor = checked.referrer_descriptor(&d, bytes.len());
        let referrer = checked.subject.as_ref().map(|subject| (subject, &descriptor));
        s.storage
            .put_manifest(&repo, &d, &bytes, &checked.media_type, tag, referrer)
    })
    .await?;
    let mut out = vec![
        ("location", format!("/v2/{name}/manifests/{digest}")),
        ("docker-content-digest", digest.to_string()),
        ("content-length", "0".into()),
    ];
    if let Some(subject) = subject {
        out.push(("oci-subject", subject.to_string()));
    }
    Ok(respond(StatusCode::CREATED, &out, Body::empty()))
}

async fn delete_manifest(state: &Shared, name: String, reference: Reference) -> Result<Response> {
    blocking(state, move |s| match &reference {
        Reference::Tag(tag) => match s.storage.delete_tag(&name, tag)? {
            true => Ok(()),
            false => Err(Error::ManifestUnknown(format!("{name}:{tag}"))),
        },
        Reference::Digest(digest) => {
            if s.storage.manifest_media_type(&name, digest)?.is_none() {
                return Err(Error::ManifestUnknown(format!("{name}@{digest}")));
            }
            let subject = manifest::subject_of(&s.storage.read_blob(digest)?);
            s.storage.delete_manifest(&name, digest, subject.as_ref())?;
            Ok(())
        }
    })
    .await?;
    Ok(respond(
        StatusCode::ACCEPTED,
        &[("content-length", "0".into())],
        Body::empty(),
    ))
}

// ---- blobs ----

/// A single `bytes=` range, resolved against `size` to `[start, end]`.
/// None when absent or not understood (then the whole blob is served, as
/// RFC 9110 allows); an error when it cannot be satisfied.
fn parse_range(value: Option<&HeaderValue>, size: u64) -> Result<Option<(u64, u64)>> {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // A suffix: the last b bytes.
        let Ok(n) = b.parse::<u64>() else { return Ok(None) };
        if n == 0 || size == 0 {
            return Err(Error::RangeNotSatisfiable { size });
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let Ok(start) = a.parse::<u64>() else { return Ok(None) };
        let end = if b.is_empty() {
            u64::MAX
        } else {
            match b.parse::<u64>() {
                Ok(end) if end >= start => end,
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(Error::RangeNotSatisfiable { size });
        }
        (start, end.min(size - 1))
    };
    Ok(Some(range))
}

async fn get_blob(
    state: &Shared,
    name: String,
    digest: Digest,
    headers: &HeaderMap,
    with_body: bool,
) -> Result<Response> {
    let d = digest.clone();
    let size = blocking(state, move |s| Ok(s.storage.blob_in_repo(&name, &d)))
        .await?
        .ok_or_else(|| Error::BlobUnknown(digest.to_string()))?;
    let range = parse_range(headers.get(header::RANGE), size)?;
    let (start, len) = match range {
        Some((a, b)) => (a, b - a + 1),
        None => (0, size),
    };
    let mut out = vec![
        ("content-type", "application/octet-stream".to_string()),
        ("content-length", len.to_string()),
        ("docker-content-digest", digest.to_string()),
        ("etag", format!("\"{digest}\"")),
        ("accept-ranges", "bytes".to_string()),
        // Content-addressed: what this URL returns never changes.
        ("cache-control", "max-age=31536000".to_string()),
    ];
    let status = match range {
        Some((a, b)) => {
            out.push(("content-range", format!("bytes {a}-{b}/{size}")));
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    if !with_body {
        return Ok(respond(status, &out, Body::empty()));
    }
    let path = state.storage.blob_path(&digest);
    let mut file = tokio::fs::File::open(&path).await.at(&path)?;
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await.at(&path)?;
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK);
    Ok(respond(status, &out, Body::from_stream(stream)))
}

async fn delete_blob(state: &Shared, name: String, digest: Digest) -> Result<Response> {
    let d = digest.clone();
    if !blocking(state, move |s| s.storage.unlink_blob(&name, &d)).await? {
        return Err(Error::BlobUnknown(digest.to_string()));
    }
    Ok(respond(
        StatusCode::ACCEPTED,
        &[
            ("docker-content-digest", digest.to_string()),
            ("content-length", "0".into()),
        ],
        Body::empty(),
    ))
}
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        use Route::*;
        let cases = [
            ("/v2/", Base),
            ("/v2", Base),
            ("/v2/_catalog", Catalog),
            ("/v2/a/b/tags/list", Tags("a/b".into())),
            ("/v2/a/manifests/latest", Manifest("a".into(), "latest".into())),
            ("/v2/a/blobs/manifests/x", Manifest("a/blobs".into(), "x".into())),
            ("/v2/a/blobs/sha256:00", Blob("a".into(), "sha256:00".into())),
            ("/v2/a/blobs/uploads/", UploadStart("a".into())),
            ("/v2/a/blobs/uploads", UploadStart("a".into())),
            ("/v2/a/blobs/uploads/u-1", Upload("a".into(), "u-1".into())),
            ("/v2/a/referrers/sha256:00", Referrers("a".into(), "sha256:00".into())),
        ];
        for (path, want) in cases {
            assert_eq!(route(path).unwrap(), want, "{path}");
        }
        for bad in [
            "/v2/../a/manifests/x",
            "/v2/a/../../manifests/x",
            "/v2/%2e%2e/manifests/x",
            "/v2//etc/manifests/x",
            "/v2/a\\b/manifests/x",
            "/v2/A/tags/list",
        ] {
            assert!(matches!(route(bad), Err(Error::NameInvalid(_))), "{bad}");
        }
        assert!(matches!(route("/v3/a"), Err(Error::NotFound(_))));
        assert!(matches!(route("/v2/a/unknown"), Err(Error::NotFound(_))));
    }

    #[test]
    fn ranges() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(parse_range(None, 10).unwrap(), None);
        assert_eq!(parse_range(Some(&h("bytes=2-4")), 10).unwrap(), Some((2, 4)));
        assert_eq!(parse_range(Some(&h("bytes=2-")), 10).unwrap(), Some((2, 9)));
        assert_eq!(parse_range(Some(&h("bytes=2-100")), 10).unwrap(), Some((2, 9)));
        assert_eq!(parse_range(Some(&h("bytes=-3")), 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range(Some(&h("bytes=-30")), 10).unwrap(), Some((0, 9)));
        assert_eq!(parse_range(Some(&h("bytes=0-1,3-4")), 10).unwrap(), None);
        assert_eq!(parse_range(Some(&h("bytes=5-2")), 10).unwrap(), None);
        assert_eq!(parse_range(Some(&h("items=1-2")), 10).unwrap(), None);
        assert!(parse_range(Some(&h("bytes=10-")), 10).is_err());
        assert!(parse_range(Some(&h("bytes=-0")), 10).is_err());
    }

    #[test]
    fn pagination() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (page, _, more) = paginate(items.clone(), &q(&[("n", "2")])).unwrap();
        assert_eq!((page, more), (vec!["a".to_string(), "b".to_string()], true));
        let (page, _, more) = paginate(items.clone(), &q(&[("n", "2"), ("last", "b")])).unwrap();
        assert_eq!((page, more), (vec!["c".to_string(), "d".to_string()], false));
        assert!(paginate(items, &q(&[("n", "-1")])).is_err());
    }
}
