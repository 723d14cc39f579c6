//! Webhook URLs come from partners; without a guard, `https://169.254.169.254/…` or a name
//! that resolves to `10.0.0.5` would make the gateway POST into the bank's own network (SSRF).
//!
//! Two checks, because one is not enough. [`check_url`] runs when a partner's config is
//! loaded and before every attempt: https only, no credentials in the URL, no literal address
//! that is not public (reqwest connects to a literal address without asking a resolver).
//! [`GuardedResolver`] is the delivery client's DNS resolver: it refuses a name when *any*
//! address it resolves to is not public, at connect time, so a name that resolved to a public
//! address at config load and to a private one now (DNS rebinding) is still refused.
//!
//! `allow_private` is for sandbox partners whose receivers run on the bank's test network
//! or a developer's machine: it admits plain http and private, loopback and CGNAT addresses,
//! but never link-local (the cloud metadata service lives there), multicast, broadcast,
//! unspecified, reserved or documentation addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    #[error("webhook URLs must use https (http only for sandbox partners), not {0}")]
    Scheme(String),
    #[error("webhook URLs must not carry a user name or password")]
    Userinfo,
    #[error("the webhook URL has no host")]
    NoHost,
    #[error("{host} is {class}, which webhooks may not reach")]
    Forbidden { host: String, class: &'static str },
    #[error("{host} resolves to {addr}, {class}, which webhooks may not reach")]
    ForbiddenResolved { host: String, addr: IpAddr, class: &'static str },
}

/// Where an address sits, for this guard's purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    Public,
    /// Reachable only inside some network: allowed for sandbox partners.
    Private(&'static str),
    /// Never a webhook receiver.
    Never(&'static str),
}

impl AddrClass {
    fn allowed(self, allow_private: bool) -> bool {
        match self {
            Self::Public => true,
            Self::Private(_) => allow_private,
            Self::Never(_) => false,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Public => "a public address",
            Self::Private(name) | Self::Never(name) => name,
        }
    }
}

/// Is `addr` somewhere a webhook may go (under `allow_private`)? `Err` names the class.
pub fn check_addr(addr: IpAddr, allow_private: bool) -> Result<(), &'static str> {
    let class = classify(addr);
    if class.allowed(allow_private) { Ok(()) } else { Err(class.name()) }
}

pub fn classify(addr: IpAddr) -> AddrClass {
    match addr {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(addr: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(addr) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// IANA's IPv4 special-purpose registry, by what each block means for a webhook.
const V4_SPECIAL: &[([u8; 4], u32, AddrClass)] = &[
    ([0, 0, 0, 0], 8, AddrClass::Never("the unspecified / \"this network\" block")),
    ([10, 0, 0, 0], 8, AddrClass::Private("a private address")),
    ([100, 64, 0, 0], 10, AddrClass::Private("a carrier-grade NAT address")),
    ([127, 0, 0, 0], 8, AddrClass::Private("a loopback address")),
    ([169, 254, 0, 0], 16, AddrClass::Never("a link-local address (cloud metadata lives here)")),
    ([172, 16, 0, 0], 12, AddrClass::Private("a private address")),
    ([192, 0, 0, 0], 24, AddrClass::Private("an IETF protocol-assignment address")),
    ([192, 0, 2, 0], 24, AddrClass::Never("a documentation address")),
    ([192, 88, 99, 0], 24, AddrClass::Never("a 6to4 relay anycast address")),
    ([192, 168, 0, 0], 16, AddrClass::Private("a private address")),
    ([198, 18, 0, 0], 15, AddrClass::Private("a benchmarking address")),
    ([198, 51, 100, 0], 24, AddrClass::Never("a documentation address")),
    ([203, 0, 113, 0], 24, AddrClass::Never("a documentation address")),
    ([224, 0, 0, 0], 4, AddrClass::Never("a multicast address")),
    ([255, 255, 255, 255], 32, AddrClass::Never("the broadcast address")),
    ([240, 0, 0, 0], 4, AddrClass::Never("a reserved address")),
];

fn classify_v4(addr: Ipv4Addr) -> AddrClass {
    V4_SPECIAL.iter().find(|(net, prefix, _)| in_v4(addr, *net, *prefix)).map_or(AddrClass::Public, |(_, _, c)| *c)
}

fn classify_v6(addr: Ipv6Addr) -> AddrClass {
    let s = addr.segments();
    let bits = u128::from(addr);
    let in_net = |net: u128, prefix: u32| bits & u128::MAX.checked_shl(128 - prefix).unwrap_or(0) == net;
    let low_v4 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if addr.is_unspecified() {
        return AddrClass::Never("the unspecified address");
    }
    if addr.is_loopback() {
        return AddrClass::Private("a loopback address");
    }
    // Forms that carry an IPv4 address are judged by that address: ::ffff:a.b.c.d (mapped),
    // ::a.b.c.d (the deprecated compatible form) and 64:ff9b::/96 (well-known NAT64).
    if in_net(0xffff_0000_0000, 96) || in_net(0, 96) || in_net(0x0064_ff9b << 96, 96) {
        return classify_v4(low_v4);
    }
    if in_net(0x0064_ff9b_0001 << 80, 48) {
        return AddrClass::Private("a local-use NAT64 address");
    }
    // 6to4 (2002::/16) embeds the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return classify_v4(Ipv4Addr::from(((u32::from(s[1])) << 16) | u32::from(s[2])));
    }
    if s[0] & 0xff00 == 0xff00 {
        return AddrClass::Never("a multicast address");
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return AddrClass::Never("a link-local address");
    }
    if addr == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        return AddrClass::Never("the cloud metadata address");
    }
    if s[0] & 0xfe00 == 0xfc00 {
        return AddrClass::Private("a unique-local address");
    }
    if s[0] & 0xffc0 == 0xfec0 {
        return AddrClass::Private("a site-local address");
    }
    const V6_NEVER: &[(u128, u32, &str)] = &[
        (0x0100 << 112, 64, "a discard-only address"),
        (0x2001_0000 << 96, 32, "a Teredo address"),
        (0x2001_0002 << 96, 48, "a benchmarking address"),
        (0x2001_0010 << 96, 28, "an ORCHID address"),
        (0x2001_0020 << 96, 28, "an ORCHIDv2 address"),
        (0x2001_0db8 << 96, 32, "a documentation address"),
        (0x3fff << 112, 20, "a documentation address"),
    ];
    if let Some((_, _, name)) = V6_NEVER.iter().find(|(net, prefix, _)| in_net(*net, *prefix)) {
        return AddrClass::Never(name);
    }
    // Global unicast is 2000::/3; anything else is unassigned or special.
    if s[0] & 0xe000 == 0x2000 { AddrClass::Public } else { AddrClass::Never("a reserved address") }
}

/// The static check, for config load and before each attempt. Does no DNS.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), SsrfError> {
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        other => return Err(SsrfError::Scheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SsrfError::Userinfo);
    }
    let forbidden = |addr: IpAddr| {
        check_addr(addr, allow_private).map_err(|class| SsrfError::Forbidden { host: addr.to_string(), class })
    };
    match url.host().ok_or(SsrfError::NoHost)? {
        Host::Ipv4(v4) => forbidden(IpAddr::V4(v4)),
        Host::Ipv6(v6) => forbidden(IpAddr::V6(v6)),
        // `localhost` never leaves the machine (RFC 6761); say so now rather than at delivery.
        Host::Domain(name) if is_localhost(name) && !allow_private => {
            Err(SsrfError::Forbidden { host: name.to_owned(), class: "a loopback name" })
        }
        Host::Domain(_) => Ok(()),
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The delivery client's resolver: the system's lookup, then every address checked.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl GuardedResolver {
    /// Resolves `host` and refuses the whole name if any address is not allowed: a name that
    /// mixes public and private addresses is a rebinding attempt, not a receiver.
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, std::io::Error> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
        if addrs.is_empty() {
            return Err(std::io::Error::other(format!("{host} resolves to no address")));
        }
        for addr in &addrs {
            if let Err(class) = check_addr(addr.ip(), self.allow_private) {
                let refused =
                    SsrfError::ForbiddenResolved { host: host.to_owned(), addr: addr.ip(), class }.to_string();
                return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, refused));
            }
        }
        Ok(addrs)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = *self;
        Box::pin(async move {
            let addrs = this.lookup(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests;
