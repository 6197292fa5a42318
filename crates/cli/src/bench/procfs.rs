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

/// The machine's CPU time so far, over all its cores, in clock ticks: (busy, all). Idle and
/// waiting for IO are not busy; guest time is already counted in user time.
pub(crate) fn cpu_ticks() -> Option<(u64, u64)> {
    cpu_line_ticks(std::fs::read_to_string("/proc/stat").ok()?.lines().next()?)
}

fn cpu_line_ticks(line: &str) -> Option<(u64, u64)> {
    let fields: Vec<u64> = line
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let all: u64 = fields.iter().sum();
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    Some((all - idle, all))
}

/// The share of the machine's CPU time that was busy between two [`cpu_ticks`] readings.
pub(crate) fn busy_share(from: (u64, u64), to: (u64, u64)) -> Option<f64> {
    let all = to.1.checked_sub(from.1).filter(|all| *all > 0)?;
    Some(to.0.saturating_sub(from.0) as f64 / all as f64)
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
    fn busy_time_is_all_but_idle_and_io_wait() {
        let line = "cpu  100 5 20 800 50 3 2 0 0 0";
        assert_eq!(cpu_line_ticks(line), Some((130, 980)));
        assert_eq!(cpu_line_ticks("cpu0 1 2 3 4"), None);
        assert_eq!(busy_share((130, 980), (230, 1080)), Some(1.0));
        assert_eq!(busy_share((130, 980), (130, 980)), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(status_kb(std::process::id(), "VmRSS:").is_some_and(|kb| kb > 0));
    }
}
