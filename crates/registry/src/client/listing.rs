//! Lists: tags and the catalog (paginated by `Link` or `n`+`last`), and the v1 search API.

use std::collections::HashSet;

use super::failure::Ctx;
use super::http::{header, read_limited};
use super::names::check_repo;
use super::send::Req;
use super::Client;
use crate::auth;
use crate::error::{Error, Result};

/// Docker Hub's v1 search API lives on the index host.
const DOCKER_HUB_INDEX_HOST: &str = "index.docker.io";

/// One result of [`Client::search`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SearchResult {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(link: &str) -> Option<String> {
    for part in link.split(',') {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if params
            .split(';')
            .any(|p| matches!(p.trim().replace(' ', "").as_str(), "rel=\"next\"" | "rel=next"))
        {
            return Some(target.to_string());
        }
    }
    None
}

impl Client {
    /// Lists a paginated `/v2/...` collection, following `Link` headers; when a full page
    /// comes without one, asks again with `last` (registries that only do `n`+`last`).
    fn list_paged(
        &self,
        path: &str,
        field: &str,
        page_size: Option<usize>,
        scopes: Vec<String>,
        repo: Option<&str>,
    ) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let mut out: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let first = match page_size {
            Some(n) => format!("{path}?n={n}"),
            None => path.to_string(),
        };
        let mut next = Some(self.url(&first)?);
        while let Some(url) = next.take() {
            let req = Req::new("GET", url, scopes.clone());
            let resp = self.send(&req, repo)?;
            if resp.status() != 200 {
                if resp.status() == 404 && repo.is_none() {
                    return Err(Error::NotSupported {
                        registry: self.registry.clone(),
                        what: "listing repositories (the catalog API)",
                    });
                }
                return Err(self.fail(
                    "GET",
                    &req.url,
                    resp,
                    Ctx {
                        repo,
                        what: "repository",
                        reference: repo.unwrap_or(""),
                        action: "pull",
                    },
                ));
            }
            let link = header(&resp, "link");
            let body = read_limited(resp, 64 << 20)
                .map_err(|e| self.body_error(&req.url, e))?
                .ok_or_else(|| self.protocol(&format!("GET {path}"), "list larger than 64 MiB"))?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| self.protocol(&format!("GET {path}"), &format!("invalid JSON: {e}")))?;
            let items = if field == "tags" { page.tags } else { page.repositories }.unwrap_or_default();
            let count = items.len();
            let mut new = 0;
            for i in items {
                if seen.insert(i.clone()) {
                    out.push(i);
                    new += 1;
                }
            }
            if new == 0 {
                break;
            }
            next = match link.as_deref().and_then(next_link) {
                Some(l) => Some(self.absolute(&l)?.to_string()),
                None => match (page_size, out.last()) {
                    (Some(n), Some(last)) if count >= n => {
                        let mut u = self.absolute(path)?;
                        u.query_pairs_mut()
                            .append_pair("n", &n.to_string())
                            .append_pair("last", last);
                        Some(u.to_string())
                    }
                    _ => None,
                },
            };
        }
        Ok(out)
    }

    /// All tags of a repository.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        self.list_tags(repo, None)
    }

    /// All tags of a repository, asked for `page_size` at a time.
    pub fn list_tags(&self, repo: &str, page_size: Option<usize>) -> Result<Vec<String>> {
        check_repo(repo)?;
        self.list_paged(
            &format!("/v2/{repo}/tags/list"),
            "tags",
            page_size,
            vec![auth::pull_scope(repo)],
            Some(repo),
        )
    }

    /// All repositories (registries may refuse or not offer this).
    pub fn catalog(&self, page_size: Option<usize>) -> Result<Vec<String>> {
        self.list_paged(
            "/v2/_catalog",
            "repositories",
            page_size,
            vec![auth::catalog_scope()],
            None,
        )
    }

    /// Searches the registry's v1 search API (Docker Hub and registries that offer it).
    pub fn search(&self, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(default)]
            results: Vec<SearchResult>,
        }
        let mut url = if self.registry == "docker.io" {
            url::Url::parse(&format!("https://{DOCKER_HUB_INDEX_HOST}/v1/search"))
                .map_err(|e| self.protocol("search", &e.to_string()))?
        } else {
            self.absolute("/v1/search")?
        };
        url.query_pairs_mut()
            .append_pair("q", term)
            .append_pair("n", &limit.to_string());
        let req = Req::new("GET", url.to_string(), Vec::new());
        let resp = self.send(&req, None)?;
        match resp.status() {
            200 => {
                let body = read_limited(resp, 16 << 20)
                    .map_err(|e| self.body_error(&req.url, e))?
                    .ok_or_else(|| self.protocol("search", "reply larger than 16 MiB"))?;
                let reply: Reply = serde_json::from_slice(&body).map_err(|_| Error::NotSupported {
                    registry: self.registry.clone(),
                    what: "search (its /v1/search answer is not the search API's)",
                })?;
                let mut results = reply.results;
                results.truncate(limit);
                Ok(results)
            }
            404 | 405 | 501 => Err(Error::NotSupported {
                registry: self.registry.clone(),
                what: "search (no /v1/search API)",
            }),
            _ => Err(self.status_error("GET", &req.url, resp)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_link_headers() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"<a>; rel="prev", <b>; rel="next""#).as_deref(), Some("b"));
        assert_eq!(next_link("garbage"), None);
    }
}
