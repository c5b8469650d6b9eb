//! IDs and names: the random 64-hex IDs of containers, networks and anonymous volumes, the names
//! berth makes up for containers, and Docker's rule for names users give.

/// A new random ID: 32 bytes from the operating system's generator, as 64 lowercase hex.
pub(crate) fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Docker's rule for container and network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Docker-style "adjective_surname" names, picked from the ID.
pub(crate) fn generated_name(id: &str) -> String {
    const LEFT: &[&str] = &[
        "brave", "calm", "eager", "fervent", "gallant", "happy", "jolly", "keen", "lucid", "merry", "nifty", "quirky",
        "serene", "tender", "vibrant", "wizardly",
    ];
    const RIGHT: &[&str] = &[
        "babbage", "curie", "dijkstra", "euler", "fermat", "gauss", "hopper", "kepler", "lovelace", "noether",
        "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
    ];
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    format!(
        "{}_{}_{}",
        LEFT[(n % 16) as usize],
        RIGHT[((n / 16) % 16) as usize],
        &id[..4]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex_and_names_follow_dockers_rule() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert!(valid_name("web-1.a_b") && valid_name("9lives"));
        assert!(!valid_name("") && !valid_name("-x") && !valid_name("a/b") && !valid_name(".hidden"));
        let name = generated_name(&a);
        assert!(valid_name(&name) && name.ends_with(&a[..4]), "{name}");
    }
}
