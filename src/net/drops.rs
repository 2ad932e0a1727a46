//! Datagrams the kernel dropped before a UDP socket read them (receive buffer full).
//!
//! The exact source is the socket's own `drops` column in `/proc/net/udp` / `/proc/net/udp6`,
//! found by the socket's inode. When that table is not readable, `/proc/net/snmp`'s
//! `Udp: RcvbufErrors` is used instead: it is system-wide, so it is reported with
//! [`DropScope::System`] and never used to attribute loss to one socket. (`SO_RXQ_OVFL` would
//! need `recvmsg` with ancillary data on every read, which the async socket types do not
//! offer.) Where neither exists the count is `None`: a number is never guessed.

use std::os::fd::RawFd;

/// Whether a drop count is this socket's own or the whole system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropScope {
    Socket,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    ProcNetUdp { inode: u64 },
    Snmp,
}

/// The kernel drop counter of one UDP socket, counting from when it was created.
#[derive(Debug, Clone)]
pub struct DropCounter {
    source: Source,
    baseline: u64,
}

impl DropCounter {
    /// The counter of the UDP socket `fd`, or `None` when the system exposes none.
    pub fn for_udp_socket(fd: RawFd) -> Option<DropCounter> {
        if let Some(inode) = socket_inode(fd) {
            let source = Source::ProcNetUdp { inode };
            if let Some(baseline) = read(source) {
                return Some(DropCounter { source, baseline });
            }
        }
        let baseline = read(Source::Snmp)?;
        Some(DropCounter {
            source: Source::Snmp,
            baseline,
        })
    }

    /// Drops since the counter was created; `None` if the counter can no longer be read.
    pub fn seen(&self) -> Option<u64> {
        read(self.source).map(|n| n.saturating_sub(self.baseline))
    }

    pub fn scope(&self) -> DropScope {
        match self.source {
            Source::ProcNetUdp { .. } => DropScope::Socket,
            Source::Snmp => DropScope::System,
        }
    }
}

fn read(source: Source) -> Option<u64> {
    match source {
        Source::ProcNetUdp { inode } => ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .find_map(|text| udp_table_drops(&text, inode)),
        Source::Snmp => std::fs::read_to_string("/proc/net/snmp")
            .ok()
            .and_then(|t| snmp_rcvbuf_errors(&t)),
    }
}

/// The inode of a socket (what `/proc/net/udp` lists it by).
fn socket_inode(fd: RawFd) -> Option<u64> {
    // SAFETY: fstat only writes into the zeroed struct we pass; an invalid fd returns -1.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstat(fd, &mut st) };
    (rc == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK).then_some(st.st_ino)
}

/// The `drops` column of the socket with `inode` in a `/proc/net/udp{,6}` table.
///
/// Columns (stable since Linux 2.6.27): `sl local rem st tx:rx tr:when retrnsmt uid timeout
/// inode ref pointer drops`.
pub fn udp_table_drops(text: &str, inode: u64) -> Option<u64> {
    text.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 13 || cols[9].parse::<u64>().ok()? != inode {
            return None;
        }
        cols[12].parse().ok()
    })
}

/// `RcvbufErrors` of the `Udp:` lines of `/proc/net/snmp` (a header line, then a value line).
pub fn snmp_rcvbuf_errors(text: &str) -> Option<u64> {
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let header = udp.next()?;
    let values = udp.next()?;
    let i = header
        .split_whitespace()
        .position(|h| h == "RcvbufErrors")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  135: 0100007F:1FBD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40968 2 0000000000000000 17
  136: 0100007F:1FBE 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40969 2 0000000000000000 0
";

    #[test]
    fn reads_the_drops_column_by_inode() {
        assert_eq!(udp_table_drops(TABLE, 40968), Some(17));
        assert_eq!(udp_table_drops(TABLE, 40969), Some(0));
        assert_eq!(udp_table_drops(TABLE, 1), None);
        assert_eq!(udp_table_drops("garbage\n1 2 3", 1), None);
    }

    #[test]
    fn reads_rcvbuf_errors() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    Udp: 100 2 5 90 4 0\n\
                    UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    UdpLite: 0 0 0 0 0 0\n";
        assert_eq!(snmp_rcvbuf_errors(snmp), Some(4));
        assert_eq!(snmp_rcvbuf_errors("Ip: x\nIp: 1\n"), None);
    }

    #[test]
    fn a_fresh_socket_has_seen_no_drops() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Some(c) = DropCounter::for_udp_socket(s.as_raw_fd()) {
            if c.scope() == DropScope::Socket {
                assert_eq!(c.seen(), Some(0));
            }
        }
        assert!(socket_inode(-1).is_none());
    }
}
