//! Docker's filter sets (`--filter key=value`, the API's `filters` JSON): values of one key are
//! alternatives, different keys must all match.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// A parsed filter set: each key with its values, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    values: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// From the CLI's `--filter key=value` arguments.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Filters> {
        let mut filters = Filters::default();
        for arg in args {
            let arg = arg.as_ref();
            let Some((key, value)) = arg.split_once('=') else {
                return Err(Error::InvalidArgument(format!(
                    "bad format of filter (expected name=value): {arg}"
                )));
            };
            filters.add(key.trim().to_lowercase(), value.to_string());
        }
        Ok(filters)
    }

    /// From the API's `filters` parameter: `{"key": ["v1", "v2"]}`, or the older
    /// `{"key": {"v1": true}}`.
    pub fn from_json(text: &str) -> Result<Filters> {
        let invalid = |e: &dyn std::fmt::Display| Error::InvalidArgument(format!("invalid filter: {e}"));
        let mut filters = Filters::default();
        if text.trim().is_empty() {
            return Ok(filters);
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| invalid(&e))?;
        let serde_json::Value::Object(map) = value else {
            return Err(invalid(&"expected an object"));
        };
        for (key, values) in map {
            match values {
                serde_json::Value::Array(items) => {
                    for item in items {
                        let serde_json::Value::String(v) = item else {
                            return Err(invalid(&format!("the values of {key:?} must be strings")));
                        };
                        filters.add(key.clone(), v);
                    }
                }
                serde_json::Value::Object(set) => {
                    for (v, on) in set {
                        if on == serde_json::Value::Bool(true) {
                            filters.add(key.clone(), v);
                        }
                    }
                }
                _ => return Err(invalid(&format!("the values of {key:?} must be a list"))),
            }
        }
        Ok(filters)
    }

    fn add(&mut self, key: String, value: String) {
        self.values.entry(key).or_default().push(value);
    }

    /// Refuses keys the caller does not know, with Docker's message.
    pub fn accept_only(&self, keys: &[&str]) -> Result<()> {
        match self.values.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(key) => Err(Error::InvalidArgument(format!("invalid filter '{key}'"))),
            None => Ok(()),
        }
    }

    /// The keys given, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Adds `value` to `key` (the CLI's positional arguments that are filters, as `images REPO`).
    pub fn with(mut self, key: &str, value: &str) -> Filters {
        self.add(key.to_string(), value.to_string());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values given for `key` (empty when none).
    pub fn get(&self, key: &str) -> &[String] {
        self.values.get(key).map_or(&[], Vec::as_slice)
    }

    /// Whether `key` was not given, or one of its values passes `test`.
    pub fn allows(&self, key: &str, test: impl Fn(&str) -> bool) -> bool {
        match self.values.get(key) {
            None => true,
            Some(values) => values.iter().any(|v| test(v)),
        }
    }

    /// Whether every `label` filter (`KEY` or `KEY=VALUE`) holds for `labels`: unlike other keys,
    /// each label filter must hold.
    pub fn allows_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.get("label").iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(want.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_and_json_give_the_same_set() {
        let args = Filters::from_args(&["type=container", "event=start", "event=die"]).unwrap();
        let json = Filters::from_json(r#"{"type":["container"],"event":{"start":true,"die":true}}"#).unwrap();
        assert_eq!(args.get("event"), ["start", "die"]);
        assert_eq!(json.get("type"), ["container"]);
        assert_eq!(json.get("event").len(), 2);
        assert!(Filters::from_args(&["nonsense"]).is_err());
        assert!(Filters::from_json("[1]").is_err());
    }

    #[test]
    fn one_key_is_any_of_its_values_labels_are_all() {
        let f = Filters::from_args(&["event=start", "event=die", "label=a", "label=b=2"]).unwrap();
        assert!(f.allows("event", |v| v == "die"));
        assert!(!f.allows("event", |v| v == "create"));
        assert!(f.allows("image", |_| false), "a key not given allows everything");
        let mut labels = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert!(!f.allows_labels(&labels));
        labels.insert("b".into(), "2".into());
        assert!(f.allows_labels(&labels));
        assert!(f.accept_only(&["event", "label"]).is_ok());
        let err = f.accept_only(&["event"]).unwrap_err().to_string();
        assert_eq!(err, "invalid filter 'label'");
    }
}
