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
        self.get("label").iter().all(|want| label_holds(want, labels))
    }

    /// Whether `labels` pass the prunes' `label!` filters: as Docker's prunes decide, an object is
    /// kept back only when every `label!` filter holds for it.
    pub fn allows_labels_not(&self, labels: &BTreeMap<String, String>) -> bool {
        let not = self.get("label!");
        not.is_empty() || !not.iter().all(|want| label_holds(want, labels))
    }

    /// The one point in time given for `key` (`until`), in nanoseconds since the epoch, relative to
    /// `now` for a duration; more than one is refused, since they could only contradict each other.
    pub fn time(&self, key: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Option<i64>> {
        match self.get(key) {
            [] => Ok(None),
            [one] => crate::when::parse_when(one, now).map(Some),
            _ => Err(Error::InvalidArgument(format!("more than one {key} filter specified"))),
        }
    }

    /// The yes-or-no value given for `key` (`dangling`, `all`): true for "true" or "1", false for
    /// "false" or "0"; None when the key is not given.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        let mut answer = None;
        for value in self.get(key) {
            let this = match value.to_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(Error::InvalidArgument(format!("invalid filter '{key}={value}'"))),
            };
            if answer.is_some_and(|a| a != this) {
                return Err(Error::InvalidArgument(format!(
                    "invalid filter '{key}': both true and false given"
                )));
            }
            answer = Some(this);
        }
        Ok(answer)
    }
}

/// A label filter (`KEY` or `KEY=VALUE`) against an object's labels.
fn label_holds(want: &str, labels: &BTreeMap<String, String>) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(want),
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

    #[test]
    fn label_not_keeps_back_what_every_one_matches() {
        let labels = BTreeMap::from([("keep".to_string(), "yes".to_string())]);
        let none = Filters::from_args::<&str>(&[]).unwrap();
        assert!(none.allows_labels_not(&labels));
        let f = Filters::from_args(&["label!=keep"]).unwrap();
        assert!(!f.allows_labels_not(&labels));
        assert!(f.allows_labels_not(&BTreeMap::new()));
        let f = Filters::from_args(&["label!=keep=yes", "label!=other"]).unwrap();
        assert!(f.allows_labels_not(&labels), "only one of the two holds");
    }

    #[test]
    fn booleans_and_times() {
        let f = Filters::from_args(&["dangling=true", "all=0", "bad=maybe", "until=10m"]).unwrap();
        assert_eq!(f.boolean("dangling").unwrap(), Some(true));
        assert_eq!(f.boolean("all").unwrap(), Some(false));
        assert_eq!(f.boolean("missing").unwrap(), None);
        assert_eq!(f.boolean("bad").unwrap_err().to_string(), "invalid filter 'bad=maybe'");
        let now = chrono::Utc::now();
        let until = f.time("until", now).unwrap().unwrap();
        assert_eq!(until, now.timestamp_nanos_opt().unwrap() - 600_000_000_000);
        assert!(Filters::from_args(&["until=1m", "until=2m"])
            .unwrap()
            .time("until", now)
            .is_err());
        assert!(Filters::from_args(&["until=soon"]).unwrap().time("until", now).is_err());
    }
}
