//! Docker's JSON objects for volumes and networks (`inspect`, `ls --format json`, the API's bodies),
//! typed, with the list calls and their filters: the front doors serialize or tabulate them as they are.

pub mod network;
pub mod volume;

pub use network::Network;
pub use volume::Volume;
