//! What the load generator reads about the process under test from `/proc`, and the file
//! descriptor limit it raises for itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot read /proc/{pid}/{file}: {source}")]
    Read {
        pid: u32,
        file: &'static str,
        source: std::io::Error,
    },
    #[error("unexpected format of /proc/{pid}/{file}")]
    Format { pid: u32, file: &'static str },
}

/// One reading of a process: CPU time used so far and memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProcessSample {
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size since the process started (`VmHWM`).
    pub peak_rss_kib: u64,
}

impl ProcessSample {
    pub fn read(pid: u32) -> Result<Self, ProcessError> {
        let stat = read_proc(pid, "stat")?;
        let cpu = cpu_of_stat(&stat).ok_or(ProcessError::Format { pid, file: "stat" })?;
        let status = read_proc(pid, "status")?;
        let kib = |key| {
            status_kib(&status, key).ok_or(ProcessError::Format {
                pid,
                file: "status",
            })
        };
        Ok(Self {
            cpu,
            rss_kib: kib("VmRSS:")?,
            peak_rss_kib: kib("VmHWM:")?,
        })
    }
}

fn read_proc(pid: u32, file: &'static str) -> Result<String, ProcessError> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|source| ProcessError::Read {
        pid,
        file,
        source,
    })
}

/// utime + stime of a `/proc/PID/stat` line. The command name (2nd field) may hold spaces and
/// parentheses, so fields are counted after its closing parenthesis.
fn cpu_of_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = clock_ticks_per_second();
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / ticks as f64,
    ))
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Raises this process's open-file limit to at least `wanted` (up to the hard limit, and past
/// it when privileged). Returns the soft limit in force afterwards.
pub fn raise_fd_limit(wanted: u64) -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max.max(wanted),
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(wanted);
    }
    // Not privileged: as far as the hard limit goes.
    let capped = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit.rlim_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let ticks = clock_ticks_per_second() as f64;
        let stat = "4242 (odd) name)) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        let cpu = cpu_of_stat(stat).unwrap();
        assert!((cpu.as_secs_f64() - 300.0 / ticks).abs() < 1e-9, "{cpu:?}");
        assert_eq!(cpu_of_stat("garbage"), None);
    }

    #[test]
    fn this_process_reads_back() {
        let sample = ProcessSample::read(std::process::id()).unwrap();
        assert!(sample.rss_kib > 0 && sample.peak_rss_kib >= sample.rss_kib);
        assert!(matches!(
            ProcessSample::read(u32::MAX),
            Err(ProcessError::Read { .. })
        ));
    }

    #[test]
    fn status_values_are_in_kib() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }
}
