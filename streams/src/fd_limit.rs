//! The open-file limit: every WebSocket client and every partner or SMTP connection holds a
//! descriptor, and the usual soft limit of 1024 is far below what `vigil run` serves or what
//! the load tests open. Here because both the service and the load tests depend on this crate.

/// Raises this process's open-file limit (`RLIMIT_NOFILE`) to its hard maximum; returns the
/// soft limit in force afterwards.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // An unlimited hard limit still cannot exceed the kernel's `fs.nr_open`.
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20)
    } else {
        limit.rlim_max
    };
    if limit.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fd_limit_can_be_raised_to_the_hard_limit() {
        let soft = raise_fd_limit().expect("getrlimit and setrlimit");
        assert!(soft >= 256, "{soft}");
        assert_eq!(raise_fd_limit().expect("a second time"), soft);
    }
}
