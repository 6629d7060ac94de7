//! The harness process's memory, from `/proc/self` (Linux only).

/// Resets the process's memory high-water mark to its current resident size
/// (`/proc/self/clear_refs`, Linux 4.0+), so that VmHWM reflects this run.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A `/proc/self/status` field in KiB.
pub fn kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The evidence line: resident memory at the start and the peak, in MiB.
pub fn line(before_kib: u64, peak_kib: u64, reset: bool) -> String {
    format!(
        "harness process memory: {} MiB resident at the start, peak {} MiB ({}; includes an embedded reference server and anything running beside this scenario)",
        before_kib / 1024,
        peak_kib / 1024,
        if reset {
            "high-water mark reset at the start"
        } else {
            "high-water mark of the whole process life"
        }
    )
}
