//! Checks of a container's configuration that `create` makes whatever front door it came
//! through: the names and values the runtime will need later, refused now with Docker's texts.

use super::ContainerConfig;
use crate::{Error, Result};

/// The log options the json-file driver takes.
const LOG_OPTIONS: &[&str] = &["max-size", "max-file", "compress", "labels", "env", "tag"];

pub(super) fn validate(config: &ContainerConfig) -> Result<()> {
    let host = &config.host;
    if !matches!(host.runtime.as_str(), "" | "berth") {
        berth_runtime::external::External::resolve(&host.runtime)?;
    }
    if let Some(key) = host.log_opts.keys().find(|k| !LOG_OPTIONS.contains(&k.as_str())) {
        return Err(Error::InvalidArgument(format!(
            "unknown log opt '{key}' for json-file log driver"
        )));
    }
    for u in &host.ulimits {
        berth_runtime::spec::parse_ulimit(u)?;
    }
    if let Some(h) = host.extra_hosts.iter().find(|h| !h.contains(':')) {
        return Err(Error::InvalidArgument(format!(
            "invalid argument {h:?} for \"--add-host\" flag: bad format for add-host: {h:?}"
        )));
    }
    if let Some(d) = host.dns.iter().find(|d| d.parse::<std::net::IpAddr>().is_err()) {
        return Err(Error::InvalidArgument(format!(
            "invalid argument {d:?} for \"--dns\" flag: {d} is not an ip address"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_the_runtime_could_not_use() {
        let ok = ContainerConfig::default();
        assert!(validate(&ok).is_ok());
        let mut c = ok.clone();
        c.host.log_opts.insert("colour".into(), "red".into());
        assert_eq!(
            validate(&c).unwrap_err().to_string(),
            "unknown log opt 'colour' for json-file log driver"
        );
        let mut c = ok.clone();
        c.host.ulimits.push("nofile".into());
        assert!(validate(&c).is_err());
        let mut c = ok.clone();
        c.host.extra_hosts.push("nocolon".into());
        assert!(validate(&c)
            .unwrap_err()
            .to_string()
            .contains("bad format for add-host"));
        let mut c = ok.clone();
        c.host.dns.push("resolver.example".into());
        assert!(validate(&c).unwrap_err().to_string().contains("is not an ip address"));
        let mut c = ok;
        c.host.runtime = "/nonexistent/runc".into();
        assert!(validate(&c).is_err());
    }
}
