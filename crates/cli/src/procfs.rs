//! What the benchmarks read of processes and memory from `/proc`, and the signal they send.

/// The first line of `text` starting with `field` (`VmRSS:`), as a number of kB.
fn kb_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`, `RssAnon:`, `Threads:`), in kB (or a
/// plain count); None for a process that is gone.
pub(crate) fn status_kb(pid: u32, field: &str) -> Option<u64> {
    kb_field(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        field,
    )
}

/// A process's proportional set size (shared pages divided among their sharers), in kB.
pub(crate) fn pss_kb(pid: u32) -> Option<u64> {
    kb_field(
        &std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?,
        "Pss:",
    )
}

/// A field of `/proc/meminfo` (`MemAvailable:`), in kB.
pub(crate) fn meminfo_kb(field: &str) -> Option<u64> {
    kb_field(&std::fs::read_to_string("/proc/meminfo").ok()?, field)
}

/// Sends `signal` to `pid`; a process already gone is not an error here.
#[allow(unsafe_code)]
pub(crate) fn send_signal(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_in_kb_is_read_from_its_line_and_a_missing_one_is_none() {
        let text = "Name:\tcairn\nVmHWM:\t   4212 kB\nVmRSS:\t    4096 kB\nThreads:\t3\n";
        assert_eq!(kb_field(text, "VmRSS:"), Some(4096));
        assert_eq!(kb_field(text, "Threads:"), Some(3));
        assert_eq!(kb_field(text, "RssAnon:"), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(status_kb(std::process::id(), "VmRSS:").is_some_and(|kb| kb > 0));
    }
}
