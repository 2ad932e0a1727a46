//! Is the server listening yet, and what does the kernel say about its UDP socket?
//!
//! From outside, a UDP port is ready when some socket is bound to it on the host
//! (`/proc/net/udp`, `/proc/net/udp6`): sending earlier would lose datagrams to an ICMP
//! "port unreachable" that no one counts. The same table gives that socket's inode, its receive
//! queue (bytes not read yet) and its kernel drop counter. A Unix socket is ready when a
//! connect succeeds.

use crate::net::address::Address;
use std::net::SocketAddr;

/// One row of `/proc/net/udp{,6}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpSocketRow {
    pub inode: u64,
    /// Bytes waiting in the receive queue.
    pub rx_queue: u64,
    /// Datagrams the kernel dropped on this socket since it was created.
    pub drops: u64,
}

/// The row of the socket bound to `port` (any local address) in one table's text.
pub fn find_udp_port(text: &str, port: u16) -> Option<UdpSocketRow> {
    text.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 13 {
            return None;
        }
        let (_, p) = cols[1].rsplit_once(':')?;
        if u16::from_str_radix(p, 16).ok()? != port {
            return None;
        }
        let (_, rx) = cols[4].split_once(':')?;
        Some(UdpSocketRow {
            inode: cols[9].parse().ok()?,
            rx_queue: u64::from_str_radix(rx, 16).ok()?,
            drops: cols[12].parse().ok()?,
        })
    })
}

/// The row of the UDP socket bound to `port`, from either table.
pub fn udp_port_row(port: u16) -> Option<UdpSocketRow> {
    ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|p| {
        let text = std::fs::read_to_string(p).ok()?;
        find_udp_port(&text, port)
    })
}

/// The row of the socket with `inode`, from either table (its drop counter later on).
pub fn udp_inode_row(inode: u64) -> Option<UdpSocketRow> {
    ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|p| {
        let text = std::fs::read_to_string(p).ok()?;
        text.lines().skip(1).find_map(|line| {
            let port = line.split_whitespace().nth(1)?.rsplit_once(':')?.1;
            let row = find_udp_port(&format!("h\n{line}"), u16::from_str_radix(port, 16).ok()?)?;
            (row.inode == inode).then_some(row)
        })
    })
}

/// Bytes a Unix socket sent that its peer has not read yet (`SIOCOUTQ`, `TIOCOUTQ` on Linux: on Unix sockets the
/// kernel charges a datagram to its sender until the receiver consumes it). `None` where the
/// kernel does not say.
pub fn unread_by_peer(fd: std::os::fd::RawFd) -> Option<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer given.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    (r == 0).then_some(n.max(0) as u64)
}

/// Whether `addr` accepts traffic now.
pub fn accepts(addr: &Address) -> bool {
    match addr {
        Address::Udp(a) => udp_port_row(a.port()).is_some(),
        Address::Unixgram(path) => std::os::unix::net::UnixDatagram::unbound()
            .and_then(|s| s.connect(path))
            .is_ok(),
        Address::Unix(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
    }
}

/// A UDP port on loopback that is free now (bound, read, released). Another process may take
/// it before the server does; the server then fails to bind, which the check reports.
pub fn free_udp_port(host: SocketAddr) -> std::io::Result<u16> {
    let s = std::net::UdpSocket::bind(SocketAddr::new(host.ip(), 0))?;
    Ok(s.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_row_of_a_port() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 0100007F:1FBD 00000000:0000 07 00000000:00000300 00:00000000 00000000     0        0 12345 2 0000000000000000 7\n";
        let row = find_udp_port(text, 8125).expect("row");
        assert_eq!(
            row,
            UdpSocketRow {
                inode: 12345,
                rx_queue: 0x300,
                drops: 7
            }
        );
        assert_eq!(find_udp_port(text, 8126), None);
    }

    #[test]
    fn what_a_unix_peer_has_not_read_is_seen() {
        use std::os::fd::AsRawFd;
        let (a, b) = std::os::unix::net::UnixDatagram::pair().expect("pair");
        a.send(b"x:1|c").expect("send");
        assert!(unread_by_peer(a.as_raw_fd()).expect("SIOCOUTQ") > 0);
        let mut buf = [0u8; 16];
        b.recv(&mut buf).expect("recv");
        assert_eq!(unread_by_peer(a.as_raw_fd()), Some(0));
    }

    #[test]
    fn a_bound_socket_is_seen_and_a_released_one_is_not() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = s.local_addr().expect("addr").port();
        let addr = Address::Udp(s.local_addr().expect("addr"));
        assert!(accepts(&addr));
        let row = udp_port_row(port).expect("row");
        assert_eq!(udp_inode_row(row.inode).map(|r| r.inode), Some(row.inode));
        drop(s);
        assert!(!accepts(&addr));
    }
}
