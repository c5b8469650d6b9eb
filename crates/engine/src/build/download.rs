//! ADD's URL sources: what counts as one, and fetching the bytes.

use std::io::Read;

use crate::{Error, Result};

pub(super) fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The bytes at an ADD URL.
pub(super) fn download(url: &str) -> Result<Vec<u8>> {
    let response = ureq::get(url)
        .timeout(std::time::Duration::from_secs(600))
        .call()
        .map_err(|e| Error::InvalidArgument(format!("ADD {url}: {e}")))?;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut bytes)
        .map_err(|e| Error::InvalidArgument(format!("ADD {url}: {e}")))?;
    Ok(bytes)
}
