//! Redaction tests: table-driven cases per kind, and whole-file shapes.
use super::*;

fn ids() -> Identifiers {
    Identifiers {
        hostnames: vec!["strix-lab-07.corp.example.com".into()],
        users: vec!["alice.nguyen".into(), "bob".into()],
        aliases: vec![("anguyen".into(), "alice.nguyen".into())],
        machine_ids: vec!["200eb11b39b7df6bcbbdd3b41e27fd0b".into()],
        serials: vec!["PF4ABC1234".into(), "To be filled by O.E.M.".into(), "0000".into()],
        macs: vec!["3c:7c:3f:1a:2b:4d".into()],
        generic: vec!["fedora".into()],
    }
}

fn red() -> Redactor {
    Redactor::new(&ids())
}

/// (input, expected output) through one fresh redactor each.
fn table(rows: &[(&str, &str)]) {
    for (input, want) in rows {
        assert_eq!(red().text(input), *want, "input: {input}");
    }
}

#[test]
fn secrets_by_name_in_env_files_units_json_yaml_and_headers() {
    table(
        &[
            ("LEMONADE_API_KEY=sk-live-4f9c2a7e1b3d5f60a8c9e2d4b6f1a3c5\n", "LEMONADE_API_KEY=<redacted>\n"),
            ("export HF_TOKEN='hf_AbCdEfGhIjKlMnOpQrSt'", "export HF_TOKEN='<redacted>'"),
            ("DB_PASS=hunter2 SMTP_PW=\"x y\"", "DB_PASS=<redacted> SMTP_PW=\"<redacted>\""),
            ("MY_SERVICE_SECRET=abc;LEMONADE_PORT=13305", "MY_SERVICE_SECRET=<redacted>;LEMONADE_PORT=13305"),
            ("CLIENT_CREDENTIALS=a:b", "CLIENT_CREDENTIALS=<redacted>"),
            ("LEMONADE_API_KEY=", "LEMONADE_API_KEY="),
            (
                "Environment=\"LEMONADE_API_KEY=0123456789abcdef\" \"PATH=/opt/fastflowlm/bin:/usr/bin\"",
                "Environment=\"LEMONADE_API_KEY=<redacted>\" \"PATH=/opt/fastflowlm/bin:/usr/bin\"",
            ),
            (r#"{"api_key": "abc123", "version": "10.3.0"}"#, r#"{"api_key": "<redacted>", "version": "10.3.0"}"#),
            (
                "hf_token: hf_abc\napi_key: 'k'\nport: 13305\n",
                "hf_token: <redacted>\napi_key: '<redacted>'\nport: 13305\n",
            ),
            ("curl -H \"Authorization: Token abc\" x", "curl -H \"Authorization: <redacted>\" x"),
            ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "Authorization: <redacted>"),
            (r#""Authorization": "Bearer abcdefgh12345""#, r#""Authorization": "<redacted>""#),
            ("Proxy: Bearer abcdefgh12345", "Proxy: Bearer <redacted>"),
            ("https://alice:s3cret@git.example.com/x", "https://<redacted>@git.example.com/x"),
            // Not secrets: what the checks read.
            ("sig_key: 5F:0A:3C:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11", ""),
            ("iommu.passthrough=1 amd_iommu=off", "iommu.passthrough=1 amd_iommu=off"),
            ("the basic functionality works", "the basic functionality works"),
            ("LimitMEMLOCK=infinity", "LimitMEMLOCK=infinity"),
        ]
        .map(|(i, o)| (i, if o.is_empty() { i } else { o })),
    );
}

#[test]
fn tokens_by_shape_anywhere() {
    table(&[
        ("key is sk-live-4f9c2a7e1b3d5f60 ok", "key is <redacted> ok"),
        ("model hf_AbCdEfGhIjKlMnOpQrStUv", "model <redacted>"),
        ("ghp_0123456789abcdefghij and glpat-0123456789abcdef", "<redacted> and <redacted>"),
        ("id AKIAIOSFODNN7EXAMPLE", "id <redacted>"),
        ("disk-by-id and task-manager", "disk-by-id and task-manager"),
    ]);
}

#[test]
fn hosts_users_and_domains_map_consistently() {
    let passwd = "root:x:0:0:root:/root:/bin/bash\nalice.nguyen:x:1000:1000:Alice Nguyen,Lab 3:/home/anguyen:/bin/bash\n\
                  bob:x:1001:1001:Bob:/home/bob:/bin/zsh\nlemonade:x:975:975:Lemonade:/var/lib/lemonade:/sbin/nologin\n";
    let r = red();
    assert_eq!(
        r.passwd(passwd),
        "root:x:0:0:root:/root:/bin/bash\nuser1:x:1000:1000::/home/user1:/bin/bash\n\
         user2:x:1001:1001::/home/user2:/bin/zsh\nlemonade:x:975:975:Lemonade:/var/lib/lemonade:/sbin/nologin\n"
    );
    table(&[
        ("render:x:105:alice.nguyen,bob\nwheel:x:10:Alice.Nguyen", "render:x:105:user1,user2\nwheel:x:10:user1"),
        ("Mar 25 strix-lab-07 kernel: x", "Mar 25 host.example kernel: x"),
        ("strix-lab-07.corp.example.com strix-lab-07.local", "host.example host.example.local"),
        ("search corp.example.com", "search domain.example"),
        ("strix-lab-07-backup bobcat", "strix-lab-07-backup bobcat"),
        ("ID=fedora\nNAME=\"Fedora Linux\"", "ID=fedora\nNAME=\"Fedora Linux\""),
        ("mail alice.nguyen@corp.example.com", "mail user@example.invalid"),
        ("unit user@.service", "unit user@.service"),
        ("not for user@0.service or getty@tty1.service", "not for user@0.service or getty@tty1.service"),
    ]);
    let counts = r.counts();
    assert!(counts.iter().any(|c| c.kind == Kind::RealName && c.occurrences == 2), "{counts:?}");
    assert!(counts.iter().any(|c| c.kind == Kind::User && c.distinct == 3), "{counts:?}");
}

#[test]
fn ids_serials_and_uuids() {
    table(&[
        (
            "saved_entry=200eb11b39b7df6bcbbdd3b41e27fd0b-6.19.10-200.fc43.x86_64",
            "saved_entry=00000000000000000000000000000000-6.19.10-200.fc43.x86_64",
        ),
        ("amdxdna: board PF4ABC1234 ready", "amdxdna: board REDACTED ready"),
        ("XPF4ABC12345", "XPF4ABC12345"),
        ("To be filled by O.E.M.", "To be filled by O.E.M."),
        ("Serial Number: PF4ABC12", "Serial Number: REDACTED"),
        ("serial=XYZ-123 product_serial: 12345", "serial=REDACTED product_serial: REDACTED"),
        ("Serial: 8250/16550 driver, 1 ports", "Serial: 8250/16550 driver, 1 ports"),
        (r#"{"serial_number":"S5GX1"}"#, r#"{"serial_number":"REDACTED"}"#),
        ("ID_SERIAL_SHORT=S6PTNX0T123456A", "ID_SERIAL_SHORT=REDACTED"),
        ("Asset Tag: LAB-0042", "Asset Tag: REDACTED"),
        (
            "resume=/dev/disk/by-id/ata-Samsung_SSD_870_EVO_1TB_S6PTNX0T123456A-part3",
            "resume=/dev/disk/by-id/ata-Samsung_SSD_870_EVO_1TB_REDACTED-part3",
        ),
        ("wwn-0x5002538e40a1b2c3", "wwn-0xREDACTED"),
        (
            "root=UUID=fcd988a4-a8f8-8c50-9a26-19ca4ac09c86 x FCD988A4-A8F8-8C50-9A26-19CA4AC09C86 y 3bd3c4f4-0000-1111-2222-333344445555",
            "root=UUID=00000000-0000-4000-8000-000000000001 x 00000000-0000-4000-8000-000000000001 y 00000000-0000-4000-8000-000000000002",
        ),
        (
            "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
            "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
        ),
    ]);
}

#[test]
fn macs_and_addresses() {
    table(&[
        ("r8169 0000:03:00.0 enp3s0: MAC 3c:7c:3f:1a:2b:4d", "r8169 0000:03:00.0 enp3s0: MAC 02:00:00:00:00:00"),
        ("wlan0: associated with 9C-53-22-AB-CD-EF", "wlan0: associated with 02:00:00:00:00:00"),
        ("enx3c7c3f1a2b4d: renamed", "enx020000000000: renamed"),
        ("amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_hw_start", "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_hw_start"),
        ("http://192.168.1.5:8000/api", "http://192.0.2.1:8000/api"),
        ("inet 10.20.30.40/24 brd", "inet 192.0.2.1/24 brd"),
        ("ip=172.16.0.9::172.16.0.1 again 172.16.0.9", "ip=192.0.2.1::192.0.2.2 again 192.0.2.1"),
        ("dns http://1.1.1.1:53", "dns http://192.0.2.1:53"),
        ("inet6 fe80::3e7c:3fff:fe1a:2b4d%enp3s0", "inet6 2001:db8::1%enp3s0"),
        ("from 2a01:4f8:c0c:1234::1 to 2a01:4f8:c0c:1234::1.", "from 2001:db8::1 to 2001:db8::1."),
        ("net 2a01:4f8::", "net 2001:db8::1"),
        ("listen [::]:13305 and [::1]:8080", "listen [::]:13305 and [::1]:8080"),
    ]);
    for keep in [
        "Release 1.1.2.65",
        "255.0.11.71",
        "npu.sbin.1.0.0.63.xz",
        "fw_version: 2.0.0.5",
        "version 10.3.0",
        "flm 1.2.3.4 ready",
        "http://127.0.0.1:13305/live",
        "0.0.0.0:8080",
        "192.0.2.7 is documentation",
        "Mar 25 16:09:13 kernel",
        "2026-04-28T06:14:03Z",
        "amdxdna::aie2 and std::vector",
        "sig 5F:0A:3C:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11",
        "6.19.10-200.fc43.x86_64",
        "amdgpu 0000:c5:00.0: amdgpu: Fetched VBIOS from VFCT",
    ] {
        assert_eq!(red().text(keep), keep);
    }
}

#[test]
fn json_stays_json_and_loses_secret_values() {
    let r = red();
    let mut v = serde_json::json!({
        "root": "/home/alice.nguyen/fixture",
        "environment": [["PATH", "/usr/bin"], ["LEMONADE_ADMIN_PASS", "hunter2"], ["HF_TOKEN", ""]],
        "ld_cache": [["libkeyutils.so.1", "/lib64/libkeyutils.so.1"]],
        "api_key": "abc", "api_key_set": true, "sig_key": "5F:0A:3C:11",
        "body": "{\"token\": \"t0k3n\"}", "strix-lab-07": 1,
    });
    r.json(&mut v);
    assert_eq!(
        v,
        serde_json::json!({
            "root": "/home/user1/fixture",
            "environment": [["PATH", "/usr/bin"], ["LEMONADE_ADMIN_PASS", "<redacted>"], ["HF_TOKEN", ""]],
            "ld_cache": [["libkeyutils.so.1", "/lib64/libkeyutils.so.1"]],
            "api_key": "<redacted>", "api_key_set": true, "sig_key": "5F:0A:3C:11",
            "body": "{\"token\": \"<redacted>\"}", "host.example": 1,
        })
    );
    let secret = r.counts().into_iter().find(|c| c.kind == Kind::Secret).unwrap();
    assert_eq!((secret.occurrences, secret.distinct), (3, 3));
}

#[test]
fn a_second_pass_changes_nothing() {
    let text = "LEMONADE_API_KEY=sk-live-4f9c2a7e1b3d5f60 strix-lab-07 alice.nguyen 3c:7c:3f:1a:2b:4d \
                http://192.168.1.5:8000 fe80::1:2 fcd988a4-a8f8-8c50-9a26-19ca4ac09c86 Serial Number: X1 a@b.org";
    let once = red().text(text);
    let r = Redactor::default();
    assert_eq!(r.text(&once), once);
    assert!(r.counts().is_empty(), "{:?}", r.counts());
}

#[test]
fn secret_names() {
    for (name, secret) in [
        ("LEMONADE_API_KEY", true),
        ("HF_TOKEN", true),
        ("HUGGING_FACE_HUB_TOKEN", true),
        ("db-password", true),
        ("SMTP_PASS", true),
        ("X_AUTH", true),
        ("session", true),
        ("Authorization", true),
        ("sig_key", false),
        ("api_key_set", false),
        ("passthrough", false),
        ("author", false),
        ("PATH", false),
        ("LimitMEMLOCK", false),
    ] {
        assert_eq!(is_secret_name(name), secret, "{name}");
    }
    // The headers redacted anywhere in text (HEADER_SECRET) are secret names too.
    for header in ["Authorization", "Proxy-Authorization", "X-Api-Key", "X-Auth-Token", "Cookie"] {
        assert!(is_secret_name(header), "{header}");
    }
}

#[test]
fn secrets_given_as_options() {
    table(&[
        (
            "ExecStart=/usr/bin/lemond --api-key s3cr3tvalue --port 13305",
            "ExecStart=/usr/bin/lemond --api-key <redacted> --port 13305",
        ),
        ("ExecStart=/usr/bin/lemond --api-key=s3cr3tvalue", "ExecStart=/usr/bin/lemond --api-key=<redacted>"),
        (
            "ExecStart=/opt/x/serve --token abcdef123 --password \"two words\"",
            "ExecStart=/opt/x/serve --token <redacted> --password \"<redacted>\"",
        ),
        ("ExecStartPre=/usr/bin/db-init -u admin -p hunter2", "ExecStartPre=/usr/bin/db-init -u admin -p <redacted>"),
        ("Environment=\"OPTS=-p hunter2 -v\"", "Environment=\"OPTS=-p <redacted> -v\""),
        (
            "ExecStart={ path=/usr/bin/lemond ; argv[]=/usr/bin/lemond --auth-token=zz99yy88 -p hunter2 ; ignore_errors=no }",
            "ExecStart={ path=/usr/bin/lemond ; argv[]=/usr/bin/lemond --auth-token=<redacted> -p <redacted> ; ignore_errors=no }",
        ),
        // Not secrets: options naming where a secret is, flags without a value, `-p` off a
        // service line (`mkdir -p`, `systemctl show -p Id`), `-port`.
        (
            "ExecStart=/usr/bin/x --api-key-file /etc/x.key --password-stdin",
            "ExecStart=/usr/bin/x --api-key-file /etc/x.key --password-stdin",
        ),
        ("ExecStart=/usr/bin/x --no-password --verbose", "ExecStart=/usr/bin/x --no-password --verbose"),
        ("mkdir -p build && systemctl show -p Id lemond", "mkdir -p build && systemctl show -p Id lemond"),
        ("ExecStart=/usr/bin/x -port 80", "ExecStart=/usr/bin/x -port 80"),
    ]);
}

#[test]
fn pem_private_keys_under_any_name() {
    let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n";
    let out = red().text(&format!("# innocuous.conf\nport = 1\n{key}tail\n"));
    assert_eq!(
        out,
        "# innocuous.conf\nport = 1\n-----BEGIN PRIVATE KEY-----\n<redacted>\n-----END PRIVATE KEY-----\ntail\n"
    );
    for kind in ["RSA ", "EC ", "ENCRYPTED ", "OPENSSH "] {
        let text = format!(
            "-----BEGIN {kind}PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ==\n-----END {kind}PRIVATE KEY-----"
        );
        let out = red().text(&text);
        assert!(!out.contains("b3BlbnNzaC1rZXkt") && out.contains(SECRET), "{kind}: {out}");
    }
    // Cut off mid-body: the rest of the text goes.
    let out = red().text("x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMx\n");
    assert_eq!(out, "x\n-----BEGIN RSA PRIVATE KEY-----\n<redacted>\n");
    // A certificate is public: kept.
    let cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----";
    assert_eq!(red().text(cert), cert);
    // A service's environment in the facts (`["NAME", "value"]` pairs): `-p` there too.
    let mut v = serde_json::json!({ "environment": [["LEMOND_ARGS", "--token=abc123 -p hunter2"]] });
    red().json(&mut v);
    assert_eq!(v["environment"][0][1], "--token=<redacted> -p <redacted>");
    // Inside JSON strings too.
    let mut v = serde_json::json!({ "body": key });
    red().json(&mut v);
    assert!(!v.to_string().contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{v}");
}

#[test]
fn bearer_tokens_and_url_credentials() {
    table(&[
        ("curl -H 'Authorization: Bearer abcdefgh12345678' http://x", "curl -H 'Authorization: <redacted>' http://x"),
        ("token was Bearer abcdefgh12345678 ok", "token was Bearer <redacted> ok"),
        ("proxy=https://bob:hunter2@proxy.internal:3128/", "proxy=https://<redacted>@proxy.internal:3128/"),
        (
            "git clone https://oauth2:glpat-abcdefgh12345@gitlab.example/x.git",
            "git clone https://<redacted>@gitlab.example/x.git",
        ),
    ]);
}
