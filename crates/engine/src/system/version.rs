//! `version` (the API's SystemVersion): what berth is and which API it speaks. No data root needed.

use serde::Serialize;

/// The Docker Engine API version berth's front doors speak.
pub const API_VERSION: &str = "1.47";
/// The oldest API version a client may ask for (`berth serve` answers 1.24 clients, as dockerd does).
pub const MIN_API_VERSION: &str = "1.24";

/// The commit berth was built from, when the build said (`BERTH_GIT_COMMIT`); empty otherwise.
const GIT_COMMIT: &str = match option_env!("BERTH_GIT_COMMIT") {
    Some(commit) => commit,
    None => "",
};
/// When berth was built, when the build said (`BERTH_BUILD_TIME`); empty otherwise.
const BUILD_TIME: &str = match option_env!("BERTH_BUILD_TIME") {
    Some(time) => time,
    None => "",
};
/// dockerd reports the Go toolchain it was built with; berth has none.
const GO_VERSION: &str = "n/a";

/// Docker's SystemVersion, the fields berth fills, in dockerd's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SystemVersion {
    #[serde(rename = "Platform")]
    pub platform: ComponentPlatform,
    /// The server's parts; the docker client prints each one's `Details`.
    #[serde(rename = "Components")]
    pub components: Vec<ComponentVersion>,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "ApiVersion")]
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    #[serde(rename = "GitCommit")]
    pub git_commit: String,
    #[serde(rename = "GoVersion")]
    pub go_version: String,
    /// The OCI platform's os (linux).
    #[serde(rename = "Os")]
    pub os: String,
    /// The OCI platform's architecture (amd64, arm64).
    #[serde(rename = "Arch")]
    pub arch: String,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    #[serde(rename = "BuildTime")]
    pub build_time: String,
}

/// One part of the server (dockerd lists Engine, containerd, runc and docker-init; berth is one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentVersion {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Version")]
    pub version: String,
    /// Free-form facts, as strings (ApiVersion, MinAPIVersion, GitCommit, Os, Arch...).
    #[serde(rename = "Details")]
    pub details: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentPlatform {
    #[serde(rename = "Name")]
    pub name: String,
}

/// `version` (SystemVersion): berth's engine, the host's platform and kernel.
pub fn version() -> SystemVersion {
    let platform = berth_image::spec::host_platform();
    let kernel_version = rustix::system::uname().release().to_string_lossy().into_owned();
    let details = [
        ("ApiVersion", API_VERSION),
        ("MinAPIVersion", MIN_API_VERSION),
        ("GitCommit", GIT_COMMIT),
        ("GoVersion", GO_VERSION),
        ("Os", &platform.os),
        ("Arch", &platform.architecture),
        ("KernelVersion", &kernel_version),
        ("BuildTime", BUILD_TIME),
        ("Experimental", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    SystemVersion {
        platform: ComponentPlatform {
            name: "berth (daemonless)".into(),
        },
        components: vec![ComponentVersion {
            name: "Engine".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            details,
        }],
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: GIT_COMMIT.into(),
        go_version: GO_VERSION.into(),
        os: platform.os,
        arch: platform.architecture,
        kernel_version,
        build_time: BUILD_TIME.into(),
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
                "Components",
                "Version",
                "ApiVersion",
                "MinAPIVersion",
                "GitCommit",
                "GoVersion",
                "Os",
                "Arch",
                "KernelVersion",
                "BuildTime"
            ]
        );
        assert_eq!(json["Platform"]["Name"], "berth (daemonless)");
        assert_eq!(json["Components"][0]["Name"], "Engine");
        assert_eq!(json["Components"][0]["Details"]["MinAPIVersion"], MIN_API_VERSION);
    }
}
