//! `images` (GET /images/json) and `image prune` (POST /images/prune) with Docker's filter sets: the
//! filters are matched here, once, for both front doors.

use std::collections::{BTreeMap, HashSet};

use berth_reference::Reference;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Image, Removed};
use crate::filters::Filters;
use crate::pattern::Pattern;
use crate::{Engine, Error, Result};

/// One image of a list: Docker's `ImageSummary`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    /// Familiar forms (`busybox:latest`); with a `reference` filter, only the tags it matched.
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Unix seconds (0 when the image's config has no creation time).
    pub created: i64,
    pub size: i64,
    /// -1: not computed, as Docker's list answers unless asked.
    pub shared_size: i64,
    pub labels: BTreeMap<String, String>,
    /// -1: not computed.
    pub containers: i64,
}

/// What `images` asks for.
#[derive(Clone, Debug, Default)]
pub struct ImageListOptions {
    /// `-a`: intermediate images (untagged parents of others) and images only the build cache keeps too.
    pub all: bool,
    /// `dangling`, `label`, `before`, `since`, `reference`.
    pub filters: Filters,
}

/// What `image prune` asks for.
#[derive(Clone, Debug, Default)]
pub struct ImagePruneOptions {
    /// `-a`: every image no container uses, not only dangling ones.
    pub all: bool,
    /// `until` (a time or a duration back from now), `label` and `label!`.
    pub filters: Filters,
}

/// What a prune removed (Docker's `ImagePruneResponse`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImagePruned {
    pub removed: Vec<Removed>,
    pub space_reclaimed: u64,
}

/// The `images` filters, checked and parsed once for a whole list.
struct ListFilters {
    dangling: Option<Vec<bool>>,
    references: Vec<Pattern>,
    before: Option<Option<DateTime<Utc>>>,
    since: Option<Option<DateTime<Utc>>>,
    filters: Filters,
}

fn created_at(image: &Image) -> Option<DateTime<Utc>> {
    image
        .config
        .created
        .as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|c| c.with_timezone(&Utc))
}

fn parse_dangling(value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::InvalidArgument(format!(
            "invalid filter 'dangling={value}': use true or false"
        ))),
    }
}

/// Docker's `reference.FamiliarMatch`: the pattern against the familiar name (`busybox`), then against
/// the familiar name with its tag (`busybox:latest`).
fn reference_matches(pattern: &Pattern, stored: &str) -> bool {
    let Ok(reference) = Reference::parse(stored) else {
        return false;
    };
    pattern.matches(&reference.familiar_name()) || pattern.matches(&reference.familiar_string())
}

impl Engine {
    /// `images`: the images the filters let through, newest first.
    pub fn list_images(&self, options: &ImageListOptions) -> Result<Vec<ImageSummary>> {
        let filters = self.list_filters(&options.filters)?;
        let images = self.images()?;
        let parents: HashSet<String> = images
            .iter()
            .filter_map(|i| i.record.parent.as_ref().map(|p| p.to_string()))
            .collect();
        // Images only the build cache keeps are shown with -a only, as BuildKit keeps its cache apart.
        let cache_only = self.build_cache_images()?;
        let mut list = Vec::new();
        for image in &images {
            let dangling = image.record.tags.is_empty();
            let intermediate = dangling && parents.contains(&image.id().to_string());
            if (intermediate || cache_only.contains(image.id())) && !options.all {
                continue;
            }
            if filters.dangling.as_ref().is_some_and(|d| !d.contains(&dangling))
                || !filters.filters.allows_labels(&image.labels())
            {
                continue;
            }
            let created = created_at(image);
            if filters.before.is_some_and(|b| b.is_some() && created >= b)
                || filters.since.is_some_and(|s| s.is_some() && created <= s)
            {
                continue;
            }
            let tags: Vec<&String> = image
                .record
                .tags
                .iter()
                .filter(|t| filters.references.is_empty() || filters.references.iter().any(|p| reference_matches(p, t)))
                .collect();
            if !filters.references.is_empty() && tags.is_empty() {
                continue;
            }
            list.push(ImageSummary {
                id: image.id().to_string(),
                parent_id: image.record.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                repo_tags: tags.iter().map(|t| super::familiar(t)).collect(),
                repo_digests: image.repo_digests(),
                created: created.map_or(0, |c| c.timestamp()),
                size: i64::try_from(image.record.size).unwrap_or(i64::MAX),
                shared_size: -1,
                labels: image.labels(),
                containers: -1,
            });
        }
        Ok(list)
    }

    fn list_filters(&self, filters: &Filters) -> Result<ListFilters> {
        filters.accept_only(&["dangling", "label", "before", "since", "reference"])?;
        let dangling = match filters.get("dangling") {
            [] => None,
            values => Some(values.iter().map(|v| parse_dangling(v)).collect::<Result<Vec<_>>>()?),
        };
        let references = filters
            .get("reference")
            .iter()
            .map(|p| Pattern::new(p).map_err(|e| Error::InvalidArgument(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        // The last image named counts, as in Docker; an image without a creation time filters nothing.
        let created_of = |key: &str| -> Result<Option<Option<DateTime<Utc>>>> {
            filters
                .get(key)
                .last()
                .map(|name| self.image(name).map(|i| created_at(&i)))
                .transpose()
        };
        Ok(ListFilters {
            dangling,
            references,
            before: created_of("before")?,
            since: created_of("since")?,
            filters: filters.clone(),
        })
    }

    /// `image prune`: dangling images (every unused one with `all`) that the filters let through; the
    /// images only the build cache keeps are `builder prune`'s to remove, as BuildKit's cache is.
    pub fn prune_images_filtered(&self, options: &ImagePruneOptions) -> Result<ImagePruned> {
        let filters = &options.filters;
        filters.accept_only(&["label", "label!", "until", "dangling"])?;
        let until = filters.time("until", Utc::now())?;
        // The API says `-a` as dangling=false (the docker CLI sends that).
        let all = options.all || filters.boolean("dangling")? == Some(false);
        let cache_only = self.build_cache_images()?;
        let (removed, space_reclaimed) = self.prune_images(all, |image| {
            if cache_only.contains(image.id()) {
                return true;
            }
            let old_enough = until.is_none_or(|u| {
                created_at(image)
                    .and_then(|c| c.timestamp_nanos_opt())
                    .is_some_and(|c| c < u)
            });
            let labels = image.labels();
            !(filters.allows_labels(&labels) && filters.allows_labels_not(&labels) && old_enough)
        })?;
        Ok(ImagePruned {
            removed,
            space_reclaimed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_match_familiar_names_and_tags() {
        let p = |s: &str| Pattern::new(s).unwrap();
        assert!(reference_matches(&p("busybox"), "docker.io/library/busybox:latest"));
        assert!(reference_matches(
            &p("busybox:lat*"),
            "docker.io/library/busybox:latest"
        ));
        assert!(!reference_matches(
            &p("busybox:1.*"),
            "docker.io/library/busybox:latest"
        ));
        assert!(reference_matches(&p("*/*/app"), "localhost:5000/team/app:1"));
        assert!(!reference_matches(&p("*"), "localhost:5000/team/app:1"));
        assert!(reference_matches(
            &p("localhost:5000/*/*:1"),
            "localhost:5000/team/app:1"
        ));
    }

    #[test]
    fn dangling_takes_booleans() {
        assert!(parse_dangling("TRUE").unwrap());
        assert!(!parse_dangling("0").unwrap());
        assert_eq!(
            parse_dangling("maybe").unwrap_err().to_string(),
            "invalid filter 'dangling=maybe': use true or false"
        );
    }
}
