//! Where a target's published report lives and how a page links to one
//! scenario's entry in it: names and ids come from reports other people
//! wrote, so they become one folder name and percent-encoded URL parts.

/// A target's name as one folder name: path separators and leading dots
/// (a report is a file someone else may have written) become `_`.
pub fn folder_name(target: &str) -> String {
    let name: String = target
        .chars()
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "target".to_owned()
    } else {
        name.to_owned()
    }
}

/// The `id` of a scenario run's entry in a target's HTML report: the
/// scenario id for its first run, `<id>~<attempt>` for later ones.
pub fn anchor(id: &str, attempt: u32) -> String {
    if attempt > 1 {
        format!("{id}~{attempt}")
    } else {
        id.to_owned()
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a
/// name with `#`, `?`, `%` or a space stays one path segment or fragment.
pub fn encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The link, relative to the site's folder, to a target's report.
pub fn report(folder: &str) -> String {
    format!("{}/report.html", encode(folder))
}

/// The link to one scenario run's entry in a target's report.
pub fn entry(folder: &str, anchor: &str) -> String {
    format!("{}#{}", report(folder), encode(anchor))
}

/// The link to a target's badge.
pub fn badge(folder: &str) -> String {
    format!("badges/{}.svg", encode(folder))
}

#[cfg(test)]
mod tests {
    use super::{encode, entry, folder_name};

    #[test]
    fn a_target_name_stays_one_folder() {
        assert_eq!(folder_name("grpc-go"), "grpc-go");
        assert_eq!(folder_name("../../etc"), "_.._etc");
        assert_eq!(folder_name("a/b"), "a_b");
        assert_eq!(folder_name(""), "target");
        assert_eq!(folder_name(".."), "target");
    }

    #[test]
    fn links_keep_hostile_names_in_one_segment() {
        assert_eq!(encode("a#b?c d%"), "a%23b%3Fc%20d%25");
        assert_eq!(
            entry("x\"><script>", "channel.one-connection"),
            "x%22%3E%3Cscript%3E/report.html#channel.one-connection"
        );
    }
}
