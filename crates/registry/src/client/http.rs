//! Small HTTP helpers: response headers, bounded bodies, URLs fit to log.

use std::io::Read;

/// The value of a response header, trimmed; `None` when absent or empty.
pub(crate) fn header(resp: &ureq::Response, name: &str) -> Option<String> {
    resp.header(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// The URL without its query (signed storage URLs carry credentials there).
pub(super) fn redact(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

pub(super) fn url_path(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => redact(url),
    }
}

/// Reads at most `limit` bytes of a body; `None` when it is longer.
pub(crate) fn read_limited(resp: ureq::Response, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    resp.into_reader().take(limit + 1).read_to_end(&mut out)?;
    Ok(if out.len() as u64 > limit { None } else { Some(out) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_for_messages_drop_the_query() {
        let signed = "https://storage.example/blobs/abc?X-Amz-Signature=secret&X-Amz-Credential=key";
        assert_eq!(redact(signed), "https://storage.example/blobs/abc");
        assert_eq!(url_path(signed), "/blobs/abc");
        assert_eq!(
            url_path("https://reg.example/v2/library/busybox/manifests/latest"),
            "/v2/library/busybox/manifests/latest"
        );
        // Not a URL: still no query.
        assert_eq!(url_path("/v2/x?token=secret"), "/v2/x");
    }
}
