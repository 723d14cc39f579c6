use super::*;

/// Expected verdict per address: P = public, S = allowed for sandbox partners only, N = never.
const TABLE: &[(&str, char)] = &[
    // IPv4 public
    ("8.8.8.8", 'P'),
    ("1.1.1.1", 'P'),
    ("93.184.215.14", 'P'),
    ("100.63.255.255", 'P'),
    ("100.128.0.0", 'P'),
    ("172.15.255.255", 'P'),
    ("172.32.0.0", 'P'),
    ("192.167.255.255", 'P'),
    ("192.169.0.0", 'P'),
    ("223.255.255.255", 'P'),
    // "this network", unspecified
    ("0.0.0.0", 'N'),
    ("0.1.2.3", 'N'),
    // private, loopback, CGNAT
    ("10.0.0.1", 'S'),
    ("10.255.255.255", 'S'),
    ("172.16.0.1", 'S'),
    ("172.31.255.254", 'S'),
    ("192.168.1.1", 'S'),
    ("127.0.0.1", 'S'),
    ("127.255.255.254", 'S'),
    ("100.64.0.1", 'S'),
    ("100.127.255.255", 'S'),
    ("192.0.0.8", 'S'),
    ("198.18.0.1", 'S'),
    ("198.19.255.255", 'S'),
    // link-local and the metadata service
    ("169.254.169.254", 'N'),
    ("169.254.0.1", 'N'),
    // documentation, relay, multicast, reserved, broadcast
    ("192.0.2.10", 'N'),
    ("198.51.100.7", 'N'),
    ("203.0.113.99", 'N'),
    ("192.88.99.1", 'N'),
    ("224.0.0.1", 'N'),
    ("239.255.255.250", 'N'),
    ("240.0.0.1", 'N'),
    ("255.255.255.255", 'N'),
    // IPv6 public
    ("2606:4700:4700::1111", 'P'),
    ("2a00:1450:4001:80b::200e", 'P'),
    // IPv6 special
    ("::", 'N'),
    ("::1", 'S'),
    ("fe80::1", 'N'),
    ("febf::1", 'N'),
    ("fc00::1", 'S'),
    ("fd12:3456:789a::1", 'S'),
    ("fd00:ec2::254", 'N'),
    ("fec0::1", 'S'),
    ("ff02::1", 'N'),
    ("ff0e::1", 'N'),
    ("2001:db8::1", 'N'),
    ("3fff::1", 'N'),
    ("2001::1", 'N'),
    ("2001:2::1", 'N'),
    ("2001:10::1", 'N'),
    ("2001:20::1", 'N'),
    ("100::1", 'N'),
    ("4000::1", 'N'),
    ("64:ff9b:1::1", 'S'),
    // IPv4 inside IPv6: judged by the IPv4 address
    ("::ffff:8.8.8.8", 'P'),
    ("::ffff:127.0.0.1", 'S'),
    ("::ffff:10.1.2.3", 'S'),
    ("::ffff:169.254.169.254", 'N'),
    ("::ffff:0.0.0.0", 'N'),
    ("::ffff:100.64.0.1", 'S'),
    ("::127.0.0.1", 'S'),
    ("::169.254.169.254", 'N'),
    ("64:ff9b::8.8.8.8", 'P'),
    ("64:ff9b::192.168.0.1", 'S'),
    ("64:ff9b::169.254.169.254", 'N'),
    ("2002:0808:0808::1", 'P'),
    ("2002:7f00:0001::1", 'S'),
    ("2002:a9fe:a9fe::1", 'N'),
];

#[test]
fn every_address_class_is_judged_as_the_table_says() {
    for (text, verdict) in TABLE {
        let addr: IpAddr = text.parse().unwrap();
        let (public, sandbox) = match verdict {
            'P' => (true, true),
            'S' => (false, true),
            _ => (false, false),
        };
        assert_eq!(check_addr(addr, false).is_ok(), public, "{text} for a live partner");
        assert_eq!(check_addr(addr, true).is_ok(), sandbox, "{text} for a sandbox partner");
    }
}

#[test]
fn urls_are_checked_for_scheme_credentials_and_literal_addresses() {
    let check = |url: &str, allow_private: bool| check_url(&Url::parse(url).unwrap(), allow_private);
    assert_eq!(check("https://hooks.partner.example/scenegate", false), Ok(()));
    assert_eq!(check("https://8.8.8.8/hook", false), Ok(()));
    assert_eq!(check("https://[2606:4700:4700::1111]/hook", false), Ok(()));

    assert_eq!(check("http://hooks.partner.example/", false), Err(SsrfError::Scheme("http".into())));
    assert_eq!(check("ftp://hooks.partner.example/", true), Err(SsrfError::Scheme("ftp".into())));
    assert_eq!(check("https://user:pw@hooks.partner.example/", false), Err(SsrfError::Userinfo));
    assert_eq!(check("https://user@hooks.partner.example/", false), Err(SsrfError::Userinfo));
    for refused in [
        "https://127.0.0.1/",
        "https://10.0.0.1:8443/",
        "https://[::1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://localhost/",
        "https://api.localhost./",
    ] {
        assert!(matches!(check(refused, false), Err(SsrfError::Forbidden { .. })), "{refused}");
    }

    // Sandbox partners: http and private addresses, still never metadata.
    assert_eq!(check("http://127.0.0.1:9000/hook", true), Ok(()));
    assert_eq!(check("http://localhost:9000/hook", true), Ok(()));
    assert_eq!(check("https://192.168.1.20/hook", true), Ok(()));
    assert!(matches!(check("http://169.254.169.254/", true), Err(SsrfError::Forbidden { .. })));
    assert!(matches!(check("http://[fe80::1]/", true), Err(SsrfError::Forbidden { .. })));
}

#[tokio::test]
async fn the_resolver_refuses_names_that_resolve_to_forbidden_addresses() {
    let live = GuardedResolver { allow_private: false };
    let err = live.lookup("localhost").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("loopback"), "{err}");
    // A literal is looked up as itself, so the resolver judges it too.
    assert!(live.lookup("10.1.2.3").await.is_err());
    assert!(live.lookup("169.254.169.254").await.is_err());

    let sandbox = GuardedResolver { allow_private: true };
    let addrs = sandbox.lookup("127.0.0.1").await.unwrap();
    assert_eq!(addrs[0].ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(sandbox.lookup("169.254.169.254").await.is_err(), "metadata stays out of reach for sandboxes too");
}
