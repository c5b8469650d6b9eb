//! ADD's URL sources: what counts as one, the file name it lands as, fetching the bytes and checking them.

use std::io::Read;

use berth_store::Digest;

use crate::{Error, Result};

pub(super) fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The name a URL's file gets in a destination directory: the last part of its path (query and fragment
/// left out), `download` when there is none.
pub(super) fn url_file_name(url: &str) -> String {
    url.split(['?', '#'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .unwrap_or("download")
        .to_string()
}

/// The bytes at an ADD URL, checked against `--checksum` when one is given.
pub(super) fn fetch(url: &str, checksum: Option<&str>) -> Result<Vec<u8>> {
    let bytes = download(url)?;
    if let Some(want) = checksum {
        check_checksum(url, &bytes, want)?;
    }
    Ok(bytes)
}

/// `ADD --checksum=sha256:...`: the downloaded bytes must have that digest.
fn check_checksum(url: &str, bytes: &[u8], want: &str) -> Result<()> {
    let got = Digest::of(bytes).to_string();
    if want != got {
        return Err(Error::InvalidArgument(format!(
            "ADD {url}: the content has digest {got}, not the {want} --checksum asks for"
        )));
    }
    Ok(())
}

/// The bytes at an ADD URL.
fn download(url: &str) -> Result<Vec<u8>> {
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

#[cfg(test)]
pub(super) mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// A one-request HTTP server on localhost answering `body` (or `status` with no body); returns its URL.
    pub(in crate::build) fn serve_once(status: u16, body: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let mut stream = stream;
            let reason = if status == 200 { "OK" } else { "Not Found" };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        });
        format!("http://127.0.0.1:{port}/files/hello.txt?x=1")
    }

    #[test]
    fn only_http_and_https_are_urls() {
        assert!(is_url("http://example.com/a"));
        assert!(is_url("https://example.com/a"));
        assert!(!is_url("ftp://example.com/a"));
        assert!(!is_url("git@github.com:a/b.git"));
        assert!(!is_url("./http://x"));
    }

    #[test]
    fn a_url_lands_under_the_last_part_of_its_path() {
        assert_eq!(url_file_name("https://example.com/dl/tool.tar.gz"), "tool.tar.gz");
        assert_eq!(url_file_name("https://example.com/dl/tool?version=2#top"), "tool");
        assert_eq!(url_file_name("https://example.com/dl/#frag"), "download");
        assert_eq!(url_file_name("https://example.com/"), "download");
    }

    #[test]
    fn checksums_are_sha256_digests() {
        let want = Digest::of(b"hello").to_string();
        check_checksum("http://x/", b"hello", &want).unwrap();
        let err = check_checksum("http://x/", b"other", &want).unwrap_err().to_string();
        assert!(err.contains(&want), "{err}");
        assert!(err.contains(&Digest::of(b"other").to_string()), "{err}");
        // The digest is compared whole: a bare hex does not match.
        assert!(check_checksum("http://x/", b"hello", Digest::of(b"hello").hex()).is_err());
    }

    #[test]
    fn fetch_downloads_and_checks() {
        let url = serve_once(200, b"hello");
        assert_eq!(fetch(&url, Some(&Digest::of(b"hello").to_string())).unwrap(), b"hello");
        let url = serve_once(200, b"hello");
        assert!(fetch(&url, Some(&Digest::of(b"bye").to_string())).is_err());
        let url = serve_once(404, b"");
        let err = fetch(&url, None).unwrap_err().to_string();
        assert!(err.starts_with(&format!("ADD {url}: ")), "{err}");
    }
}
