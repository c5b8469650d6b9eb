//! Blob uploads: monolithic, chunked (POST, PATCH..., PUT), cancelled, and
//! the session bookkeeping they share.

use super::*;

/// The `Range` an upload of `size` bytes reports, as Docker's registry does
/// (`0-0` for an empty one).
pub(crate) fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

pub(super) fn uuid_ok(uuid: &str) -> bool {
    uuid.len() == 36 && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn new_uuid() -> String {
    let h = format!("{:032x}", rand::random::<u128>());
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn upload_location(name: &str, uuid: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{uuid}")
}

fn upload_response(status: StatusCode, name: &str, uuid: &str, size: u64) -> Response {
    respond(
        status,
        &[
            ("location", upload_location(name, uuid)),
            ("range", upload_range(size)),
            ("docker-upload-uuid", uuid.to_string()),
            ("content-length", "0".into()),
        ],
        Body::empty(),
    )
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    respond(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/blobs/{digest}")),
            ("docker-content-digest", digest.to_string()),
            ("content-length", "0".into()),
        ],
        Body::empty(),
    )
}

/// Streams a request body onto the end of `file`, hashing it when a hasher
/// is given. Returns the byte count.
async fn append_body(
    file: tokio::fs::File,
    body: Body,
    mut hasher: Option<&mut Hasher>,
    path: &PathBuf,
) -> Result<u64> {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::BlobUploadInvalid(format!("reading the request body: {e}")))?;
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&chunk);
        }
        out.write_all(&chunk).await.at(path)?;
        written += chunk.len() as u64;
    }
    out.flush().await.at(path)?;
    Ok(written)
}

pub(super) async fn start_upload(
    state: &Shared,
    name: String,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) {
        // A mount that cannot be honoured falls back to a fresh upload.
        if let (Ok(digest), Ok(())) = (parse_digest(mount), check_name(from)) {
            let (repo, from, d) = (name.clone(), from.clone(), digest.clone());
            let mounted = blocking(state, move |s| {
                if s.storage.blob_in_repo(&from, &d).is_none() {
                    return Ok(false);
                }
                s.storage.link_blob(&repo, &d)?;
                Ok(true)
            })
            .await?;
            if mounted {
                return Ok(blob_created(&name, &digest));
            }
        }
    }
    if let Some(expected) = query.get("digest") {
        let expected = parse_digest(expected)?;
        return monolithic_upload(state, name, expected, body).await;
    }
    let uuid = new_uuid();
    let dir = state.storage.uploads_dir().join(&uuid);
    let repo = name.clone();
    let session_dir = dir.clone();
    blocking(state, move |s| {
        let _opening = s.opening_upload.lock().unwrap_or_else(|p| p.into_inner());
        if s.storage.upload_count()? >= s.max_uploads {
            return Err(Error::TooManyUploads { limit: s.max_uploads });
        }
        std::fs::create_dir(&session_dir).at(&session_dir)?;
        std::fs::write(session_dir.join("repo"), repo.as_bytes()).at(&session_dir)?;
        std::fs::File::create(session_dir.join("data")).at(&session_dir)?;
        Ok(())
    })
    .await?;
    let session = state.session(&uuid);
    let mut hasher = session.lock().await;
    *hasher = Some(Hasher::new());
    // A POST without digest may still carry a first chunk.
    let mut size = 0;
    if content_length(headers).unwrap_or(0) > 0 {
        let path = dir.join("data");
        let file = tokio::fs::OpenOptions::new().append(true).open(&path).await.at(&path)?;
        size = append_body(file, body, hasher.as_mut(), &path).await?;
    }
    Ok(upload_response(StatusCode::ACCEPTED, &name, &uuid, size))
}

async fn monolithic_upload(state: &Shared, name: String, expected: Digest, body: Body) -> Result<Response> {
    let temp = state.storage.temp_path();
    let result = async {
        let file = tokio::fs::File::create(&temp).await.at(&temp)?;
        let mut hasher = Hasher::new();
        append_body(file, body, Some(&mut hasher), &temp).await?;
        let actual = hasher.finish();
        if actual != expected {
            return Err(Error::DigestInvalid(format!(
                "upload was declared as {expected} but has digest {actual}"
            )));
        }
        let (t, d, repo) = (temp.clone(), expected.clone(), name.clone());
        blocking(state, move |s| {
            std::fs::File::open(&t).and_then(|f| f.sync_all()).at(&t)?;
            s.storage.commit_blob(&t, &d)?;
            s.storage.link_blob(&repo, &d)
        })
        .await
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    result?;
    Ok(blob_created(&name, &expected))
}

/// Checks that an upload session exists and belongs to `name`; returns the
/// path of its data and its current size.
async fn open_session(state: &Shared, name: &str, uuid: &str) -> Result<(PathBuf, u64)> {
    let result = find_session(state, name, uuid).await;
    if result.is_err() && !state.storage.uploads_dir().join(uuid).exists() {
        // Made by `session()` for an id that turned out not to exist.
        state.forget_session(uuid);
    }
    result
}

async fn find_session(state: &Shared, name: &str, uuid: &str) -> Result<(PathBuf, u64)> {
    let dir = state.storage.uploads_dir().join(uuid);
    let owner = tokio::fs::read_to_string(dir.join("repo")).await.ok();
    if owner.as_deref() != Some(name) {
        return Err(Error::BlobUploadUnknown(uuid.to_string()));
    }
    let data = dir.join("data");
    let size = tokio::fs::metadata(&data)
        .await
        .map_err(|_| Error::BlobUploadUnknown(uuid.to_string()))?
        .len();
    Ok((data, size))
}

pub(super) async fn upload_status(state: &Shared, name: String, uuid: String) -> Result<Response> {
    let (_, size) = open_session(state, &name, &uuid).await?;
    Ok(upload_response(StatusCode::NO_CONTENT, &name, &uuid, size))
}

/// Parses a chunk's Content-Range: `START-END` (OCI), also with Docker's
/// `bytes ` prefix and a `/TOTAL` suffix.
fn parse_content_range(value: &HeaderValue) -> Result<(u64, u64)> {
    let bad = || Error::BlobUploadInvalid(format!("Content-Range {value:?} is not START-END"));
    let text = value.to_str().map_err(|_| bad())?.trim();
    let text = text
        .strip_prefix("bytes ")
        .or_else(|| text.strip_prefix("bytes="))
        .unwrap_or(text);
    let text = text.split('/').next().unwrap_or(text);
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        a.trim().parse::<u64>().map_err(|_| bad())?,
        b.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Appends a chunk to an upload whose lock the caller holds. On any failure
/// the data is cut back to where it was, so the client can resume from the
/// Range the server reports.
async fn append_chunk(
    name: &str,
    uuid: &str,
    data: &PathBuf,
    size: u64,
    hasher: &mut Option<Hasher>,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64> {
    let range = headers
        .get(header::CONTENT_RANGE)
        .map(parse_content_range)
        .transpose()?;
    if let Some((start, _)) = range {
        if start != size {
            return Err(Error::ChunkOutOfOrder {
                start,
                size,
                uuid: uuid.to_string(),
                location: upload_location(name, uuid),
            });
        }
    }
    // The running hash is only good if it covers exactly the data on disk.
    if hasher.as_ref().is_some_and(|h| h.len() != size) {
        *hasher = None;
    }
    let before = hasher.clone();
    let file = tokio::fs::OpenOptions::new().append(true).open(data).await.at(data)?;
    let mut result = append_body(file, body, hasher.as_mut(), data).await;
    if let (Ok(written), Some((start, end))) = (&result, range) {
        // Saturating: a client may announce a range of u64::MAX bytes.
        let announced = (end - start).saturating_add(1);
        if *written != announced {
            result = Err(Error::BlobUploadInvalid(format!(
                "Content-Range {start}-{end} announced {announced} bytes, the body had {written}"
            )));
        }
    }
    match result {
        Ok(written) => Ok(size + written),
        Err(e) => {
            let file = std::fs::OpenOptions::new().write(true).open(data).at(data)?;
            file.set_len(size).at(data)?;
            *hasher = before;
            Err(e)
        }
    }
}

pub(super) async fn patch_upload(
    state: &Shared,
    name: String,
    uuid: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let session = state.session(&uuid);
    let mut hasher = session.lock().await;
    let (data, size) = open_session(state, &name, &uuid).await?;
    let size = append_chunk(&name, &uuid, &data, size, &mut hasher, headers, body).await?;
    // Every PATCH is activity, an empty one too: the purge of abandoned
    // uploads judges a session by its data's mtime.
    blocking(state, move |_| {
        let file = std::fs::OpenOptions::new().append(true).open(&data).at(&data)?;
        file.set_modified(std::time::SystemTime::now()).at(&data)
    })
    .await?;
    Ok(upload_response(StatusCode::ACCEPTED, &name, &uuid, size))
}

pub(super) async fn finish_upload(
    state: &Shared,
    name: String,
    uuid: String,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let expected = parse_digest(
        query
            .get("digest")
            .ok_or_else(|| Error::DigestInvalid("the closing PUT needs ?digest=".into()))?,
    )?;
    let session = state.session(&uuid);
    let mut hasher = session.lock().await;
    let (data, mut size) = open_session(state, &name, &uuid).await?;
    if content_length(headers).unwrap_or(0) > 0 || headers.contains_key(header::TRANSFER_ENCODING) {
        size = append_chunk(&name, &uuid, &data, size, &mut hasher, headers, body).await?;
    }
    let running = hasher.take().filter(|h| h.len() == size);
    let (d, repo, u) = (expected.clone(), name.clone(), uuid.clone());
    let data_path = data.clone();
    let outcome = blocking(state, move |s| {
        let actual = match running {
            Some(h) => h.finish(),
            None => {
                let file = std::fs::File::open(&data_path).at(&data_path)?;
                let mut reader = HashingReader::new(std::io::BufReader::with_capacity(WRITE_BUFFER, file));
                std::io::copy(&mut reader, &mut std::io::sink()).at(&data_path)?;
                reader.finish().0
            }
        };
        let session_dir = s.storage.uploads_dir().join(&u);
        if actual != d {
            // Nothing of a wrong upload is kept.
            let _ = std::fs::remove_dir_all(&session_dir);
            return Err(Error::DigestInvalid(format!(
                "upload was declared as {d} but has digest {actual}"
            )));
        }
        std::fs::File::open(&data_path)
            .and_then(|f| f.sync_all())
            .at(&data_path)?;
        s.storage.commit_blob(&data_path, &d)?;
        s.storage.link_blob(&repo, &d)?;
        let _ = std::fs::remove_dir_all(&session_dir);
        Ok(())
    })
    .await;
    drop(hasher);
    state.forget_session(&uuid);
    outcome?;
    Ok(blob_created(&name, &expected))
}

pub(super) async fn cancel_upload(state: &Shared, name: String, uuid: String) -> Result<Response> {
    let session = state.session(&uuid);
    let _guard = session.lock().await;
    open_session(state, &name, &uuid).await?;
    let dir = state.storage.uploads_dir().join(&uuid);
    tokio::fs::remove_dir_all(&dir).await.at(&dir)?;
    state.forget_session(&uuid);
    Ok(respond(
        StatusCode::NO_CONTENT,
        &[("content-length", "0".into())],
        Body::empty(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(parse_content_range(&h("0-9")).unwrap(), (0, 9));
        assert_eq!(parse_content_range(&h("bytes 10-19/*")).unwrap(), (10, 19));
        assert!(parse_content_range(&h("9-0")).is_err());
        assert!(parse_content_range(&h("x")).is_err());
    }
}
