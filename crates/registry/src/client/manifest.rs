//! Manifests: resolve (GET, checked against the requested and the registry's digest),
//! HEAD, push (PUT) and delete.

use berth_store::Digest;

use super::failure::Ctx;
use super::http::{header, read_limited};
use super::names::{check_reference, check_repo};
use super::send::{Body, Req};
use super::Client;
use crate::auth;
use crate::error::{Error, Result};
use crate::media::{manifest_kind, sniff_manifest_type};

/// A manifest as fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// The digest of `bytes`, checked against the requested digest and the registry's
    /// `Docker-Content-Digest`.
    pub digest: Digest,
}

/// What a HEAD on a manifest tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestInfo {
    pub digest: Option<Digest>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

impl Client {
    /// Fetches a manifest or index. `accept` lists the media types wanted (see
    /// [`crate::MANIFEST_ACCEPT`]); the result is checked against the digest when
    /// `reference` is one, and against the registry's `Docker-Content-Digest`.
    pub fn get_manifest(&self, repo: &str, reference: &str, accept: &[&str]) -> Result<FetchedManifest> {
        check_repo(repo)?;
        let wanted = check_reference(reference)?;
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let req = Req::new("GET", url, vec![auth::pull_scope(repo)]).header("Accept", accept.join(", "));
        let resp = self.send(&req, Some(repo))?;
        let ctx = Ctx {
            repo: Some(repo),
            what: "manifest",
            reference,
            action: "pull",
        };
        if resp.status() != 200 {
            return Err(self.fail("GET", &req.url, resp, ctx));
        }
        let content_type = header(&resp, "content-type");
        let header_digest = header(&resp, "docker-content-digest");
        let bytes = read_limited(resp, self.opts.max_manifest_size)
            .map_err(|e| self.body_error(&req.url, e))?
            .ok_or_else(|| {
                self.protocol(
                    &format!("GET manifest {repo}:{reference}"),
                    &format!("manifest larger than {} bytes", self.opts.max_manifest_size),
                )
            })?;
        let declared = content_type
            .as_deref()
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
            .filter(|c| {
                !matches!(
                    c.as_str(),
                    "application/json" | "text/plain" | "application/octet-stream"
                )
            });
        let media_type = declared
            .or_else(|| sniff_manifest_type(&bytes))
            .unwrap_or_else(|| content_type.clone().unwrap_or_default());
        if manifest_kind(&media_type).is_none() && !accept.contains(&media_type.as_str()) {
            return Err(Error::UnsupportedMediaType {
                registry: self.registry.clone(),
                repo: repo.into(),
                reference: reference.into(),
                media_type,
            });
        }
        let digest = Digest::of(&bytes);
        let mismatch = |expected: Digest| Error::DigestMismatch {
            registry: self.registry.clone(),
            repo: repo.into(),
            expected,
            actual: digest.clone(),
        };
        if let Some(w) = wanted {
            if w != digest {
                return Err(mismatch(w));
            }
        }
        if let Some(h) = header_digest.and_then(|h| h.parse::<Digest>().ok()) {
            if h != digest {
                return Err(mismatch(h));
            }
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// HEAD on a manifest: `None` when the registry does not have it.
    pub fn head_manifest(&self, repo: &str, reference: &str, accept: &[&str]) -> Result<Option<ManifestInfo>> {
        check_repo(repo)?;
        check_reference(reference)?;
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let req = Req::new("HEAD", url, vec![auth::pull_scope(repo)]).header("Accept", accept.join(", "));
        let resp = self.send(&req, Some(repo))?;
        match resp.status() {
            200 => Ok(Some(ManifestInfo {
                digest: header(&resp, "docker-content-digest").and_then(|d| d.parse().ok()),
                media_type: header(&resp, "content-type").map(|c| c.split(';').next().unwrap_or(&c).trim().to_string()),
                size: header(&resp, "content-length").and_then(|l| l.parse().ok()),
            })),
            404 => Ok(None),
            _ => Err(self.fail(
                "HEAD",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "manifest",
                    reference,
                    action: "pull",
                },
            )),
        }
    }

    /// Uploads a manifest under a tag or digest; returns its digest.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        check_repo(repo)?;
        let wanted = check_reference(reference)?;
        let digest = Digest::of(bytes);
        if let Some(w) = wanted {
            if w != digest {
                return Err(Error::InvalidArgument {
                    what: "manifest digest",
                    value: w.to_string(),
                    reason: format!("the manifest's content has digest {digest}"),
                });
            }
        }
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let req = Req::new("PUT", url, vec![auth::push_scope(repo)])
            .header("Content-Type", media_type)
            .body(Body::Bytes(bytes));
        let resp = self.send(&req, Some(repo))?;
        if !(200..300).contains(&resp.status()) {
            return Err(self.fail(
                "PUT",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "manifest",
                    reference,
                    action: "push",
                },
            ));
        }
        if let Some(h) = header(&resp, "docker-content-digest").and_then(|h| h.parse::<Digest>().ok()) {
            if h != digest {
                return Err(Error::DigestMismatch {
                    registry: self.registry.clone(),
                    repo: repo.into(),
                    expected: digest,
                    actual: h,
                });
            }
        }
        Ok(digest)
    }

    /// Deletes a manifest by digest (registries must have deletion enabled).
    pub fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<()> {
        check_repo(repo)?;
        let url = self.url(&format!("/v2/{repo}/manifests/{digest}"))?;
        let req = Req::new("DELETE", url, vec![format!("repository:{repo}:delete")]);
        let resp = self.send(&req, Some(repo))?;
        match resp.status() {
            200..=299 => Ok(()),
            _ => Err(self.fail(
                "DELETE",
                &req.url,
                resp,
                Ctx {
                    repo: Some(repo),
                    what: "manifest",
                    reference: &digest.to_string(),
                    action: "delete",
                },
            )),
        }
    }
}
