//! `version` (the API's SystemVersion): what berth is and which API it speaks. No data root needed.

use serde::Serialize;

/// The Docker Engine API version berth's front doors speak.
pub const API_VERSION: &str = "1.47";
/// The oldest API version a client may ask for.
pub const MIN_API_VERSION: &str = "1.40";

/// Docker's SystemVersion, the fields berth fills, in dockerd's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SystemVersion {
    #[serde(rename = "Platform")]
    pub platform: ComponentPlatform,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "ApiVersion")]
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// The OCI platform's os (linux).
    #[serde(rename = "Os")]
    pub os: String,
    /// The OCI platform's architecture (amd64, arm64).
    #[serde(rename = "Arch")]
    pub arch: String,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentPlatform {
    #[serde(rename = "Name")]
    pub name: String,
}

/// `version` (SystemVersion): berth's engine, the host's platform and kernel.
pub fn version() -> SystemVersion {
    let platform = berth_image::spec::host_platform();
    SystemVersion {
        platform: ComponentPlatform {
            name: "berth (daemonless)".into(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        os: platform.os,
        arch: platform.architecture,
        kernel_version: rustix::system::uname().release().to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_the_server_part_of_docker_version() {
        let v = version();
        assert!(!v.os.is_empty() && !v.arch.is_empty());
        let json = serde_json::to_value(&v).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Platform",
                "Version",
                "ApiVersion",
                "MinAPIVersion",
                "Os",
                "Arch",
                "KernelVersion"
            ]
        );
        assert_eq!(json["Platform"]["Name"], "berth (daemonless)");
    }
}
