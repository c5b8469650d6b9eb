//! Checks of a container's configuration that `create` makes whatever front door it came
//! through: the names and values the runtime will need later, refused now with Docker's texts.

use super::ContainerConfig;
use crate::{Error, Result};

/// Checks what `create` checks of a configuration before anything is made, with Docker's texts: a
/// front door may call it to refuse a request as it reads it.
pub fn check_config(config: &ContainerConfig) -> Result<()> {
    let host = &config.host;
    if !matches!(host.runtime.as_str(), "" | "berth") {
        berth_runtime::external::External::resolve(&host.runtime)?;
    }
    if let Some(key) = host
        .log_opts
        .keys()
        .find(|k| !crate::config::LOG_OPTS.contains(&k.as_str()))
    {
        return Err(Error::InvalidArgument(format!(
            "unknown log opt '{key}' for json-file log driver"
        )));
    }
    for (key, value) in &host.log_opts {
        crate::config::check_log_opt(key, value)
            .map_err(|why| Error::InvalidArgument(format!("invalid log opt {key}={value}: {why}")))?;
    }
    for u in &host.ulimits {
        u.to_runtime()?;
    }
    for d in &host.devices {
        d.check()?;
    }
    for path in host.tmpfs.keys() {
        super::options::check_tmpfs_target(path)?;
    }
    host.restart_policy.check()?;
    super::links::check_links(config)?;
    if let Some(check) = &config.healthcheck {
        check.check()?;
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
        assert!(check_config(&ok).is_ok());
        let mut c = ok.clone();
        c.host.log_opts.insert("colour".into(), "red".into());
        assert_eq!(
            check_config(&c).unwrap_err().to_string(),
            "unknown log opt 'colour' for json-file log driver"
        );
        let mut c = ok.clone();
        c.host.ulimits.push(crate::containers::Ulimit {
            name: "nofile".into(),
            soft: 2,
            hard: 1,
        });
        assert!(check_config(&c).is_err());
        let mut c = ok.clone();
        c.host.extra_hosts.push("nocolon".into());
        assert!(check_config(&c)
            .unwrap_err()
            .to_string()
            .contains("bad format for add-host"));
        let mut c = ok.clone();
        c.host.dns.push("resolver.example".into());
        assert!(check_config(&c)
            .unwrap_err()
            .to_string()
            .contains("is not an ip address"));
        let mut c = ok;
        c.host.runtime = "/nonexistent/runc".into();
        assert!(check_config(&c).is_err());
    }
}
