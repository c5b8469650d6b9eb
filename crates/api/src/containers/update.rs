//! `POST /containers/{id}/update`: Docker's `ContainerUpdateRequest` (the resources and the restart
//! policy) read into the engine's `UpdateOptions`. As in dockerd, a zero or absent field leaves the
//! setting as it is; a field berth cannot change is refused by name rather than dropped.

use axum::extract::{Path, State};
use axum::response::Response;
use berth_engine::containers::{RestartPolicy, UpdateOptions};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::params::JsonBody;
use crate::reply;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateRequest {
    memory: Option<i64>,
    memory_swap: Option<i64>,
    nano_cpus: Option<i64>,
    cpu_shares: Option<i64>,
    pids_limit: Option<i64>,
    restart_policy: Option<PolicyRequest>,
    // What berth cannot change on a container: refused when set.
    cpu_period: Option<i64>,
    cpu_quota: Option<i64>,
    cpuset_cpus: Option<String>,
    cpuset_mems: Option<String>,
    memory_reservation: Option<i64>,
    kernel_memory: Option<i64>,
    blkio_weight: Option<u16>,
    cpu_realtime_period: Option<i64>,
    cpu_realtime_runtime: Option<i64>,
}

/// The policy as sent: an empty name (the docker CLI's when `--restart` is not given) changes nothing,
/// unlike "no", so it is read before it becomes the engine's type.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PolicyRequest {
    name: String,
    maximum_retry_count: u32,
}

#[derive(Serialize)]
struct UpdateResponse {
    #[serde(rename = "Warnings")]
    warnings: Vec<String>,
}

impl UpdateRequest {
    fn options(self) -> ApiResult<UpdateOptions> {
        let set = |v: &Option<i64>| v.is_some_and(|v| v != 0);
        let refused = [
            ("CpuPeriod", set(&self.cpu_period)),
            ("CpuQuota", set(&self.cpu_quota)),
            ("CpusetCpus", self.cpuset_cpus.as_ref().is_some_and(|v| !v.is_empty())),
            ("CpusetMems", self.cpuset_mems.as_ref().is_some_and(|v| !v.is_empty())),
            ("MemoryReservation", set(&self.memory_reservation)),
            ("KernelMemory", set(&self.kernel_memory)),
            ("BlkioWeight", self.blkio_weight.is_some_and(|v| v != 0)),
            ("CpuRealtimePeriod", set(&self.cpu_realtime_period)),
            ("CpuRealtimeRuntime", set(&self.cpu_realtime_runtime)),
        ];
        if let Some((field, _)) = refused.iter().find(|(_, set)| *set) {
            return Err(ApiError::bad_request(format!(
                "berth does not support updating {field}: give it at create"
            )));
        }
        let changed = |v: Option<i64>| v.filter(|v| *v != 0);
        let restart_policy = match self.restart_policy {
            Some(p) if !p.name.is_empty() => {
                let mut policy: RestartPolicy = p.name.parse().map_err(ApiError::from)?;
                policy.maximum_retry_count = p.maximum_retry_count;
                policy.check().map_err(ApiError::from)?;
                Some(policy)
            }
            _ => None,
        };
        Ok(UpdateOptions {
            memory: changed(self.memory),
            memory_swap: changed(self.memory_swap),
            nano_cpus: changed(self.nano_cpus),
            cpu_shares: changed(self.cpu_shares),
            // Docker's update: absent leaves the limit; 0 or -1 lift it (berth's "unlimited" is 0).
            pids_limit: self.pids_limit.map(|v| v.max(0)),
            restart_policy,
        })
    }
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateRequest>,
) -> ApiResult<Response> {
    let options = request.options()?;
    state.call(move |engine| engine.update_container(&id, &options)).await?;
    Ok(reply::json(&UpdateResponse { warnings: Vec::new() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> ApiResult<UpdateOptions> {
        crate::params::parse_json::<UpdateRequest>(json.as_bytes())?.options()
    }

    #[test]
    fn what_the_docker_cli_sends_changes_only_what_it_names() {
        let options = read(
            r#"{"BlkioWeight":0,"CpuShares":0,"Memory":67108864,"NanoCpus":0,"CpusetCpus":"",
                "RestartPolicy":{"Name":"","MaximumRetryCount":0}}"#,
        )
        .unwrap();
        assert_eq!(options.memory, Some(64 << 20));
        assert_eq!(
            (options.cpu_shares, options.nano_cpus, options.pids_limit),
            (None, None, None)
        );
        assert!(options.restart_policy.is_none(), "an empty policy leaves it as it is");
        let no = read(r#"{"RestartPolicy":{"Name":"no"}}"#).unwrap();
        assert!(
            no.restart_policy.is_some_and(|p| p.is_none()),
            "\"no\" is a change to no policy"
        );
        let options = read(r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2},"PidsLimit":-1}"#).unwrap();
        assert_eq!(options.restart_policy.map(|p| p.maximum_retry_count), Some(2));
        assert_eq!(options.pids_limit, Some(0));
    }

    #[test]
    fn what_berth_cannot_change_is_refused_by_name() {
        let err = read(r#"{"CpuQuota":50000}"#).unwrap_err();
        assert!(err.message.contains("CpuQuota"), "{err:?}");
        assert!(read(r#"{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}"#).is_err());
        assert!(read(r#"{"Memory":"lots"}"#).is_err());
    }
}
