//! What `info`, `version` and `system df` report, as Docker's Engine API types (SystemInfo,
//! SystemVersion, the `/system/df` response), so both front doors show the same facts.

mod df;
mod df_items;
mod host;
mod info;
mod version;

pub use df::{DataUsageOptions, DiskUsage, SystemDataUsage};
pub use df_items::BuildCacheRecord;
pub use host::Host;
pub use info::{RuntimeInfo, SystemInfo};
pub use version::{version, ComponentPlatform, ComponentVersion, SystemVersion, API_VERSION, MIN_API_VERSION};
