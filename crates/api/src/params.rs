//! Request input as dockerd reads it: query parameters (its booleans, numbers and `filters` JSON)
//! and JSON bodies, every malformed value answered with a 400 that names it.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use berth_engine::filters::Filters;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// The query string's parameters, in order (a key may repeat).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Params, ApiError> {
        match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
            Ok(Query(pairs)) => Ok(Params(pairs)),
            Err(e) => Err(ApiError::bad_request(format!(
                "invalid query string: {}",
                e.body_text()
            ))),
        }
    }
}

impl Params {
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// The last value given for `key` (dockerd's `FormValue` takes the first; clients send one).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every non-empty value given for `key`, in order (`t=a&t=b`).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A non-empty value of `key`.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// Docker's boolean parameters: absent, empty, `0`, `no`, `false` and `none` are false, anything
    /// else true (`1`, `true`, `True`).
    pub fn flag(&self, key: &str) -> bool {
        let value = self.get(key).unwrap_or("").trim().to_ascii_lowercase();
        !matches!(value.as_str(), "" | "0" | "no" | "false" | "none")
    }

    /// An integer parameter; absent or empty is None.
    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?} is not an integer"))),
        }
    }

    /// The `filters` parameter: Docker's JSON map, `{"key": ["v1"]}` or older clients'
    /// `{"key": {"v1": true}}`, parsed by the engine's one filter parser.
    pub fn filters(&self) -> ApiResult<Filters> {
        Ok(Filters::from_json(self.get("filters").unwrap_or(""))?)
    }
}

/// A JSON request body of type `T`. An empty body is `T::default()`, as dockerd accepts for
/// optional bodies; malformed JSON and wrong types are a 400 naming the field.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody<T>, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the request body: {}", e.body_text())))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// `bytes` as JSON of type `T`; empty (or only whitespace) is `T::default()`.
pub fn parse_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            // serde_path_to_error's path before any field was reached.
            "." | "?" | "" => ApiError::bad_request(format!("invalid JSON: {inner}")),
            _ => ApiError::bad_request(format!("invalid JSON: {path}: {inner}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default)]
    struct Body {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Internal")]
        internal: bool,
    }

    #[test]
    fn booleans_read_as_dockerd_reads_them() {
        let p = Params::from_pairs(&[("a", "1"), ("b", "True"), ("c", "0"), ("d", "no"), ("e", "")]);
        assert!(p.flag("a") && p.flag("b"));
        assert!(!p.flag("c") && !p.flag("d") && !p.flag("e") && !p.flag("missing"));
    }

    #[test]
    fn integers_are_checked() {
        let p = Params::from_pairs(&[("t", "5"), ("bad", "x"), ("empty", "")]);
        assert_eq!(p.int("t").unwrap(), Some(5));
        assert_eq!(p.int("empty").unwrap(), None);
        let e = p.int("bad").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("bad"), "{}", e.message);
    }

    #[test]
    fn both_filter_forms_parse() {
        let new = Params::from_pairs(&[("filters", r#"{"label":["a=b"]}"#)]);
        let old = Params::from_pairs(&[("filters", r#"{"label":{"a=b":true}}"#)]);
        assert_eq!(new.filters().unwrap(), old.filters().unwrap());
        assert_eq!(new.filters().unwrap().get("label"), ["a=b"]);
        let bad = Params::from_pairs(&[("filters", "{")]);
        assert_eq!(bad.filters().unwrap_err().status, 400);
    }

    #[test]
    fn bodies_name_what_is_wrong() {
        let body: Body = parse_json(b"").unwrap();
        assert_eq!(body.name, "");
        let body: Body = parse_json(br#"{"Name":"n","Internal":true}"#).unwrap();
        assert!(body.internal && body.name == "n");
        let e = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.starts_with("invalid JSON"), "{}", e.message);
        let e = parse_json::<Body>(br#"{"Internal":"yes"}"#).unwrap_err();
        assert!(e.message.contains("Internal"), "{}", e.message);
    }
}
