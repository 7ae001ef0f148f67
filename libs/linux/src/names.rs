//! Name resolution files: `/etc/hosts` from `localhost` and the user's `host.NAME=IP` words, and `/etc/resolv.conf`.
//!
//! musl's resolver (which Rust's `ToSocketAddrs` uses through
//! `getaddrinfo`) answers numeric addresses itself, then reads
//! `/etc/hosts`, then asks the DNS servers of `/etc/resolv.conf` over UDP.
//! PV Calls v1 carries no UDP, so the personality refuses `SOCK_DGRAM`
//! sockets at once (`ESOCKTNOSUPPORT`, with a console notice): a lookup of
//! a name that is not in `/etc/hosts` fails immediately, and Rust reports
//! it as "Socket type not supported (os error 94)" from `to_socket_addrs`
//! instead of waiting for timeouts. `localhost` is `127.0.0.1` only (no
//! `::1`: IPv6 sockets do not exist here, and with a single answer musl
//! does not probe addresses with UDP sockets to sort them).

use alloc::format;
use alloc::string::String;
use core::net::Ipv4Addr;

/// The text of `/etc/hosts` for the user's names.
pub fn hosts_file(hosts: &[(String, Ipv4Addr)]) -> String {
    let mut s = String::from("# Made by Skiff from host.NAME=IP on the command line.\n");
    s.push_str("127.0.0.1\tlocalhost localhost.localdomain\n");
    for (name, ip) in hosts {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    s
}

/// The text of `/etc/resolv.conf`.
pub fn resolv_conf() -> String {
    String::from(
        "# PV Calls has no UDP: DNS cannot be reached from this guest, and a\n\
         # lookup of a name missing from /etc/hosts fails at once.\n\
         # Give names on the command line: host.NAME=IP.\n\
         nameserver 127.0.0.1\n\
         options timeout:1 attempts:1\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_localhost_and_user_names() {
        let h = hosts_file(&[("db.example".into(), Ipv4Addr::new(10, 0, 0, 5))]);
        let lines: alloc::vec::Vec<&str> = h.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines, ["127.0.0.1\tlocalhost localhost.localdomain", "10.0.0.5\tdb.example"]);
        assert!(resolv_conf().contains("nameserver 127.0.0.1"));
    }
}
