//! Package routes end to end with real package managers on scratch roots, all from Debian's
//! packages: stand-in packages with the real file layout (library sonames, `flm`, `lemond` and
//! its unit) built with real `rpmbuild` + `rpmsign` + `createrepo_c`, `dpkg-deb` + `reprepro`
//! (signed with a test key) and `repo-add`, served over loopback HTTP in the shape of COPR, a
//! PPA (deb822 source, keyserver) and Arch's `[extra]`; installed by the real `dnf
//! --installroot`, the real `apt-get` inside a debootstrap chroot and the real `pacman
//! --sysroot`. Doctor then judges the installed trees in fixture mode, replaying only what
//! cannot exist here (the NPU, the kernel log, systemd). The stand-ins and the test keys are
//! built once and cached under ~/.cache/npu-setup-tests/routes-standins-v3.
//!
//! `--data-dir` points the recipes at the loopback server (URLs) and the test key
//! (fingerprint); nothing else differs from the embedded data.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::{bin, check, copy_fixture, doctor_json, fixture, tree_digest, write_shim};

const STANDINS: &str = "routes-standins-v3";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(p: &Path, text: impl AsRef<[u8]>, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The stand-in repositories and test keys (built once, cached).
struct Standins {
    /// Served tree: COPR, PPA, keyserver, FLM release, Arch repos.
    srv: PathBuf,
    /// The same COPR without fastflowlm (a repository missing a package).
    srv_missing: PathBuf,
    /// The repositories' signing key.
    fpr: String,
    /// Another key (the wrong one).
    other_fpr: String,
}

fn standins() -> &'static Standins {
    static S: OnceLock<Standins> = OnceLock::new();
    S.get_or_init(|| {
        let cache = std::env::var_os("NPU_SETUP_TEST_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/npu-setup-tests"));
        let dir = cache.join(STANDINS);
        if !dir.join(".complete").is_file() {
            let tmp = cache.join(format!("{STANDINS}.tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).unwrap();
            let started = Instant::now();
            build_standins(&tmp);
            eprintln!("[routes] stand-in repositories built in {:.1}s", started.elapsed().as_secs_f64());
            write(&tmp.join(".complete"), "", 0o644);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&tmp, &dir).unwrap();
        }
        let fprs = std::fs::read_to_string(dir.join("fingerprints")).unwrap();
        let mut l = fprs.lines();
        Standins {
            srv: dir.join("srv"),
            srv_missing: dir.join("srv-missing"),
            fpr: l.next().unwrap().to_string(),
            other_fpr: l.next().unwrap().to_string(),
        }
    })
}

/// A fresh gpg home with one signing key; returns its fingerprint. The agent it starts is
/// stopped by [`stop_agent`].
fn gen_key(home: &Path, uid: &str) -> String {
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let h = home.to_str().unwrap();
    run(Command::new("gpg").args([
        "--homedir",
        h,
        "--batch",
        "--passphrase",
        "",
        "--quick-gen-key",
        uid,
        "rsa2048",
        "sign",
        "never",
    ]));
    let colons = run(Command::new("gpg").args(["--homedir", h, "--with-colons", "--list-keys"]));
    colons.lines().find(|l| l.starts_with("fpr:")).unwrap().split(':').nth(9).unwrap().to_string()
}

fn stop_agent(home: &Path) {
    let _ = Command::new("gpgconf").arg("--homedir").arg(home).args(["--kill", "gpg-agent"]).status();
}

/// `flm` as the packages install it: the file layout is real; what it answers is the
/// healthy fixture's replay (an NPU cannot exist here), with the package's version.
fn flm_script(version: &str) -> String {
    std::fs::read_to_string(fixture("fedora44-72-intree-healthy").join("usr/bin/flm"))
        .unwrap()
        .replace("1.0.5", version)
        .replace("# replay shim for flm", "# FastFlowLM stand-in (npu-setup tests): replays")
}

const LEMOND_UNIT: &str = "[Unit]\nDescription=Lemonade Server\n[Service]\nUser=lemonade\nExecStart=/usr/bin/lemond\n[Install]\nWantedBy=multi-user.target\n";

fn build_standins(dir: &Path) {
    let keys = dir.join("gnupg");
    let fpr = gen_key(&keys, "npu-setup test repository <repo@test.invalid>");
    let other = dir.join("gnupg-other");
    let other_fpr = gen_key(&other, "npu-setup wrong key <wrong@test.invalid>");
    stop_agent(&other);
    write(&dir.join("fingerprints"), format!("{fpr}\n{other_fpr}\n"), 0o644);
    let gpg_home = keys.to_str().unwrap().to_string();
    let armor = run(Command::new("gpg").args(["--homedir", &gpg_home, "--armor", "--export", &fpr]));

    // Real ELF libraries with the XRT sonames.
    let libs = dir.join("libs");
    std::fs::create_dir_all(&libs).unwrap();
    write(&libs.join("x.c"), "int xrt_placeholder(void) { return 0; }\n", 0o644);
    for so in ["libxrt_coreutil.so.2", "libxrt_core.so.2", "libxrt_driver_xdna.so.2", "libxdp_core.so.2"] {
        run(Command::new("gcc")
            .args(["-shared", "-fPIC", &format!("-Wl,-soname,{so}"), "-o"])
            .arg(libs.join(so))
            .arg(libs.join("x.c")));
    }
    let srv = dir.join("srv");

    // --- COPR abn/amd-npu: the abn/xilinx-xrt-rpm and abn/fastflowlm-rpm layouts.
    let top = dir.join("rpmbuild");
    let src = top.join("SOURCES");
    std::fs::create_dir_all(&src).unwrap();
    for so in ["libxrt_coreutil.so.2", "libxrt_core.so.2", "libxrt_driver_xdna.so.2", "libxdp_core.so.2"] {
        std::fs::copy(libs.join(so), src.join(so)).unwrap();
    }
    write(&src.join("flm"), flm_script("1.0.4"), 0o755);
    let common = "License: Apache-2.0\nAutoReqProv: no\n%global __requires_exclude ^(rtld|/bin/sh)\n%global debug_package %{nil}\n%global __os_install_post %{nil}\n";
    let xrt_spec = format!(
        "Name: xrt\nVersion: 2.21.75\nRelease: 5.fc44\nSummary: XRT stand-in\n{common}\
         %description\nstand-in\n\
         %package -n xrt-base\nSummary: base\n%description -n xrt-base\nbase\n\
         %package -n xrt-npu\nSummary: npu\nRequires: xrt-base\n%description -n xrt-npu\nnpu\n\
         %package -n xrt-plugin-amdxdna\nSummary: plugin\nRequires: xrt-base\n%description -n xrt-plugin-amdxdna\nplugin\n\
         %install\nd=%{{buildroot}}/opt/xilinx/xrt/lib64; mkdir -p $d %{{buildroot}}/etc/ld.so.conf.d %{{buildroot}}/usr/bin\n\
         for f in libxrt_coreutil.so.2 libxrt_core.so.2 libxrt_driver_xdna.so.2 libxdp_core.so.2; do cp %{{_sourcedir}}/$f $d/; done\n\
         echo /opt/xilinx/xrt/lib64 > %{{buildroot}}/etc/ld.so.conf.d/xrt-x86_64.conf\n\
         printf '#!/bin/sh\\nexec /opt/xilinx/xrt/bin/xrt-smi \"$@\"\\n' > %{{buildroot}}/usr/bin/xrt-smi; chmod 755 %{{buildroot}}/usr/bin/xrt-smi\n\
         %files -n xrt-base\n/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2\n/opt/xilinx/xrt/lib64/libxrt_core.so.2\n/etc/ld.so.conf.d/xrt-x86_64.conf\n/usr/bin/xrt-smi\n\
         %files -n xrt-npu\n/opt/xilinx/xrt/lib64/libxdp_core.so.2\n\
         %files -n xrt-plugin-amdxdna\n/opt/xilinx/xrt/lib64/libxrt_driver_xdna.so.2\n"
    );
    let flm_spec = format!(
        "Name: fastflowlm\nVersion: 1.0.4\nRelease: 2.fc44\nSummary: FastFlowLM stand-in\nRequires: xrt-npu\nRequires: xrt-plugin-amdxdna\n{common}\
         %description\nstand-in\n%install\nmkdir -p %{{buildroot}}/usr/bin\ncp %{{_sourcedir}}/flm %{{buildroot}}/usr/bin/flm\n\
         %files\n/usr/bin/flm\n"
    );
    for (name, spec) in [("xrt", &xrt_spec), ("fastflowlm", &flm_spec)] {
        let p = dir.join(format!("{name}.spec"));
        write(&p, spec, 0o644);
        run(Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args(["--define", "_build_id_links none", "--quiet", "-bb"])
            .arg(&p));
    }
    let rpms: Vec<PathBuf> = std::fs::read_dir(top.join("RPMS/x86_64")).unwrap().map(|e| e.unwrap().path()).collect();
    run(Command::new("rpmsign")
        .args(["--define", &format!("_gpg_name {fpr}"), "--define", "__gpg /usr/bin/gpg", "--addsign"])
        .args(&rpms)
        .env("GNUPGHOME", &keys));
    for (tree, with_flm) in [(&srv, true), (&dir.join("srv-missing"), false)] {
        let copr = tree.join("results/abn/amd-npu");
        let chroot = copr.join("fedora-44-x86_64");
        std::fs::create_dir_all(&chroot).unwrap();
        for r in rpms.iter().filter(|r| with_flm || !r.file_name().unwrap().to_str().unwrap().starts_with("fastflowlm"))
        {
            std::fs::copy(r, chroot.join(r.file_name().unwrap())).unwrap();
        }
        run(Command::new("createrepo_c").arg("-q").arg(&chroot));
        write(&copr.join("pubkey.gpg"), &armor, 0o644);
    }

    // Fedora's own repositories, empty: the route needs nothing from them, but dnf refreshes
    // every enabled repository, as on a real host.
    for tree in [&srv, &dir.join("srv-missing")] {
        let fedora = tree.join("fedora/44/x86_64");
        std::fs::create_dir_all(&fedora).unwrap();
        run(Command::new("createrepo_c").arg("-q").arg(&fedora));
    }

    // --- PPA lemonade-team/stable (noble) and the keyserver; FastFlowLM's release .deb.
    write(&srv.join("pks/lookup"), &armor, 0o644);
    let debs = dir.join("debs");
    let deb = |name: &str, version: &str, depends: &str, files: &[(&str, Vec<u8>, u32)], links: &[(&str, &str)]| {
        let d = debs.join(name);
        for (rel, data, mode) in files {
            write(&d.join(rel), data, *mode);
        }
        for (rel, target) in links {
            std::fs::create_dir_all(d.join(rel).parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, d.join(rel)).unwrap();
        }
        let dep = if depends.is_empty() { String::new() } else { format!("Depends: {depends}\n") };
        write(
            &d.join("DEBIAN/control"),
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: amd64\nMaintainer: npu-setup tests <test@test.invalid>\n\
                 Section: libs\nPriority: optional\n{dep}Description: {name} stand-in (npu-setup tests)\n"
            ),
            0o644,
        );
        let out = debs.join(format!("{name}.deb"));
        run(Command::new("dpkg-deb").args(["--root-owner-group", "-Zgzip", "--build"]).arg(&d).arg(&out));
        out
    };
    let lib = |so: &str| std::fs::read(libs.join(so)).unwrap();
    let gnu = "usr/lib/x86_64-linux-gnu";
    let ppa_debs = [
        deb(
            "amdxdna-dkms",
            "7.0.0~rc1+git20260310.6b13cb8f4-0ubuntu1~24.04.1",
            "",
            &[
                (
                    "usr/src/amdxdna-7.0.0-rc1+git20260310.6b13cb8f4/dkms.conf",
                    b"PACKAGE_NAME=\"amdxdna\"\nPACKAGE_VERSION=\"7.0.0-rc1+git20260310.6b13cb8f4\"\nBUILT_MODULE_NAME[0]=\"amdxdna\"\nDEST_MODULE_LOCATION[0]=\"/updates/dkms\"\nBUILD_EXCLUSIVE_KERNEL=\"^6\\.(17|18|19)\\.\"\nAUTOINSTALL=\"yes\"\n".to_vec(),
                    0o644,
                ),
                ("lib/firmware/updates/amdnpu/17f0_11/npu.sbin.1.1.2.65", b"stand-in firmware Release 1.1.2.65\n".to_vec(), 0o644),
            ],
            &[("lib/firmware/updates/amdnpu/17f0_11/npu_7.sbin", "npu.sbin.1.1.2.65")],
        ),
        deb(
            "libxrt2",
            "1:2.21.75-1~noble1",
            "",
            &[
                (&format!("{gnu}/libxrt_coreutil.so.2"), lib("libxrt_coreutil.so.2"), 0o644),
                (&format!("{gnu}/libxrt_core.so.2"), lib("libxrt_core.so.2"), 0o644),
            ],
            &[],
        ),
        deb(
            "libxrt-npu2",
            "1:2.21.75-1~noble1",
            "libxrt2 (>= 1:2.21.75)",
            &[(&format!("{gnu}/libxrt_driver_xdna.so.2"), lib("libxrt_driver_xdna.so.2"), 0o644)],
            &[],
        ),
        deb(
            "libxrt-utils",
            "1:2.21.75-1~noble1",
            "libxrt2",
            &[("usr/bin/xrt-smi", b"#!/bin/sh\necho 'xrt-smi stand-in'\n".to_vec(), 0o755)],
            &[],
        ),
        deb(
            "lemonade-server",
            "11.9.0~24.04",
            "",
            &[
                ("usr/bin/lemond", b"#!/bin/sh\nexit 0\n".to_vec(), 0o755),
                ("usr/lib/systemd/system/lemond.service", LEMOND_UNIT.as_bytes().to_vec(), 0o644),
            ],
            &[],
        ),
    ];
    let flm_deb = deb(
        "fastflowlm",
        "1.0.5",
        "libxrt2 (>= 1:2.21.75), libxrt-npu2",
        &[("opt/fastflowlm/bin/flm", flm_script("1.0.5").into_bytes(), 0o755)],
        &[("usr/bin/flm", "/opt/fastflowlm/bin/flm")],
    );
    let release = srv.join("ROCm/FastFlowLM/releases/download/v1.0.5");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(&flm_deb, release.join("fastflowlm_1.0.5_ubuntu24.04_amd64.deb")).unwrap();
    let ppa = srv.join("lemonade-team/stable/ubuntu");
    write(
        &ppa.join("conf/distributions"),
        format!(
            "Origin: LP-PPA-lemonade-team-stable\nLabel: stable\nCodename: noble\nArchitectures: amd64\nComponents: main\nSignWith: {fpr}\n"
        ),
        0o644,
    );
    for d in &ppa_debs {
        run(Command::new("reprepro").arg("-b").arg(&ppa).args(["includedeb", "noble"]).arg(d).env("GNUPGHOME", &keys));
    }

    // --- Arch [core] and [extra] (packages as makepkg lays them out: .PKGINFO + files, zstd).
    let pkgs = dir.join("pacman");
    let pkg = |name: &str, version: &str, depends: &[&str], files: &[(&str, Vec<u8>, u32)]| {
        let d = pkgs.join(name);
        for (rel, data, mode) in files {
            write(&d.join(rel), data, *mode);
        }
        let deps: String = depends.iter().map(|x| format!("depend = {x}\n")).collect();
        write(
            &d.join(".PKGINFO"),
            format!(
                "pkgname = {name}\npkgbase = {name}\npkgver = {version}\npkgdesc = {name} stand-in (npu-setup tests)\n\
                 url = https://archlinux.org/packages/extra/x86_64/{name}/\nbuilddate = 1780000000\n\
                 packager = npu-setup tests <test@test.invalid>\nsize = 16384\narch = x86_64\nlicense = Apache-2.0\n{deps}"
            ),
            0o644,
        );
        let tops: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".PKGINFO")
            .collect();
        let tar = pkgs.join(format!("{name}-{version}-x86_64.pkg.tar"));
        run(Command::new("bsdtar")
            .arg("-C")
            .arg(&d)
            .args(["--uid", "0", "--gid", "0", "-cf"])
            .arg(&tar)
            .arg(".PKGINFO")
            .args(&tops));
        run(Command::new("zstd").args(["-q", "-f", "--rm"]).arg(&tar));
        PathBuf::from(format!("{}.zst", tar.display()))
    };
    let xl = "opt/xilinx/xrt/lib";
    let arch_pkgs = [
        pkg(
            "xrt",
            "2.21.75-2",
            &[],
            &[
                (&format!("{xl}/libxrt_coreutil.so.2"), lib("libxrt_coreutil.so.2"), 0o644),
                (&format!("{xl}/libxrt_core.so.2"), lib("libxrt_core.so.2"), 0o644),
                ("etc/ld.so.conf.d/xrt.conf", b"/opt/xilinx/xrt/lib\n".to_vec(), 0o644),
                ("opt/xilinx/xrt/bin/xrt-smi", b"#!/bin/sh\necho 'xrt-smi stand-in'\n".to_vec(), 0o755),
            ],
        ),
        pkg(
            "xrt-plugin-amdxdna",
            "2.21.75-2",
            &["xrt"],
            &[(&format!("{xl}/libxrt_driver_xdna.so.2"), lib("libxrt_driver_xdna.so.2"), 0o644)],
        ),
        pkg(
            "fastflowlm",
            "0.9.41-1",
            &["xrt-plugin-amdxdna"],
            &[("usr/bin/flm", flm_script("0.9.41").into_bytes(), 0o755)],
        ),
        pkg(
            "lemonade-server",
            "10.8.1-1",
            &[],
            &[
                ("usr/bin/lemond", b"#!/bin/sh\nexit 0\n".to_vec(), 0o755),
                ("usr/lib/systemd/system/lemond.service", LEMOND_UNIT.as_bytes().to_vec(), 0o644),
            ],
        ),
    ];
    let extra = srv.join("extra/os/x86_64");
    std::fs::create_dir_all(&extra).unwrap();
    let mut copied = Vec::new();
    for p in &arch_pkgs {
        let dst = extra.join(p.file_name().unwrap());
        std::fs::copy(p, &dst).unwrap();
        copied.push(dst);
    }
    run(Command::new("repo-add").arg("-q").arg(extra.join("extra.db.tar.gz")).args(&copied));
    // [core] is there but holds nothing this route needs: an empty database.
    let core = srv.join("core/os/x86_64");
    std::fs::create_dir_all(&core).unwrap();
    run(Command::new("bsdtar").arg("-czf").arg(core.join("core.db.tar.gz")).args(["-T", "/dev/null"]));
    std::os::unix::fs::symlink("core.db.tar.gz", core.join("core.db")).unwrap();
    stop_agent(&keys);
}

/// A loopback HTTP server for a directory (GET and HEAD, query strings ignored, 404 when
/// absent); records each request path.
struct Server {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

fn serve(root: PathBuf) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(Vec::new()));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let (root, h) = (root.clone(), h.clone());
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let mut words = text.split_whitespace();
                let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
                let path = decode(target.split('?').next().unwrap_or("/"));
                h.lock().unwrap().push(path.clone());
                let file = root.join(path.trim_start_matches('/'));
                let body = if path.split('/').any(|c| c == "..") { None } else { std::fs::read(&file).ok() };
                let _ = match body {
                    Some(b) => {
                        let _ = s.write_all(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len())
                                .as_bytes(),
                        );
                        if method == "GET" { s.write_all(&b) } else { Ok(()) }
                    }
                    None => s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                };
            });
        }
    });
    Server { base, hits }
}

fn decode(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The recipes, pointed at `base` (every upstream URL the routes use) and at the test key.
fn data_dir(dir: &Path, base: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let data = dir.join("data");
    for (rel, text) in npu_setup::recipes::embedded_files() {
        let text = if *rel == "recipes/routes.yaml" {
            edit(
                text.replace("https://download.copr.fedorainfracloud.org", base)
                    .replace("https://ppa.launchpadcontent.net", base)
                    .replace("https://keyserver.ubuntu.com", base)
                    .replace(
                        "https://github.com/ROCm/FastFlowLM/releases/download",
                        &format!("{base}/ROCm/FastFlowLM/releases/download"),
                    )
                    .replace("881CF4B40B0BFA288D6776E83BF36CFA0BD50AEC", &standins().fpr),
            )
        } else {
            text.to_string()
        };
        write(&data.join(rel), text, 0o644);
    }
    data
}

/// `npu-setup --root R --data-dir D install …`: (exit code, stdout + stderr, seconds).
fn install(root: &Path, data: &Path, args: &[&str]) -> (i32, String, f64) {
    let started = Instant::now();
    let out = bin().arg("--root").arg(root).arg("--data-dir").arg(data).arg("install").args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text, started.elapsed().as_secs_f64())
}

/// The steps of the packaged route (and the build steps, which must plan nothing).
const ROUTE_STEPS: &str = "repos,packages,build-deps,sources,xrt,driver,flm,loader";

/// A fixture's tree as an installed system that is not running (an offline root): the
/// package managers work on it through their root options.
fn offline_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, root) = copy_fixture(name);
    std::fs::remove_file(root.join(".fixture.yaml")).unwrap();
    (tmp, root)
}

/// Fedora's stock repositories pointed at this test's (empty) copies: no network here.
fn local_fedora_repos(root: &Path, base: &str) {
    for f in ["fedora.repo", "fedora-updates.repo"] {
        let p = root.join("etc/yum.repos.d").join(f);
        let text: String = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| {
                if l.starts_with("metalink=") {
                    format!("baseurl={base}/fedora/$releasever/$basearch/")
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect();
        write(&p, text, 0o644);
    }
}

/// Back to a fixture (the NPU, kernel log and services replayed), with the package query
/// and the loader cache answered by the real tools from the tree's own databases.
fn as_fixture(root: &Path, name: &str, query: (&str, &str), ldconfig: &str) {
    std::fs::copy(fixture(name).join(".fixture.yaml"), root.join(".fixture.yaml")).unwrap();
    write_shim(root, query.0, &format!("exec {} \"$@\"", query.1));
    write_shim(root, ldconfig, "exec /sbin/ldconfig -r \"$NPU_SETUP_ROOT\" \"$@\"");
}

fn assert_package_layers_pass(root: &Path) {
    let (_, r) = doctor_json(root, &[]);
    for id in ["xrt.install", "xrt.loader", "flm.install"] {
        assert_eq!(check(&r, id)["status"], "pass", "{id}: {}", check(&r, id));
    }
}

/// The changes an install carried out: the lines of its journal (one before each change,
/// re-planned rounds of a multi-phase step included).
pub(crate) fn journal_len(root: &Path) -> usize {
    std::fs::read_to_string(root.join("var/lib/npu-setup/journal.jsonl")).map(|j| j.lines().count()).unwrap_or(0)
}

/// The number of actions a dry run plans.
fn planned(root: &Path, data: &Path, extra: &[&str]) -> (usize, String) {
    let (code, out, _) = install(root, data, &[&["--dry-run"], extra].concat());
    assert_eq!(code, 0, "{out}");
    let n = out
        .lines()
        .find_map(|l| l.strip_prefix("dry run: ")?.split("planned ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    (n, out)
}

#[test]
fn dnf_installs_the_copr_route_into_an_offline_root_and_doctor_passes_the_package_layers() {
    let s = standins();
    let server = serve(s.srv.clone());
    let (tmp, root) = offline_copy("fedora44-72-fresh");
    local_fedora_repos(&root, &server.base);
    let data = data_dir(tmp.path(), &server.base, |t| t);
    let (n, plan) = planned(&root, &data, &["--only", ROUTE_STEPS]);
    assert!(plan.contains("add repository COPR abn/amd-npu:"), "{plan}");
    let (code, out, secs) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert!(matches!(code, 0 | 1), "{out}");
    assert!(!out.contains("install failed"), "{out}");
    eprintln!(
        "[routes] fedora 44 / COPR: {n} actions planned, {} carried out, installed in {secs:.1}s",
        journal_len(&root)
    );
    let r = root.display().to_string();
    assert!(
        out.contains(&format!(
            "run: dnf --installroot={r} --releasever=44 --setopt=copr:copr.fedorainfracloud.org:abn:amd-npu.gpgkey=file://{r}/etc/pki/rpm-gpg/copr-abn-amd-npu.asc makecache"
        )),
        "{out}"
    );
    // No source build: nothing cloned, nothing built.
    assert!(!root.join("var/cache/npu-setup/src").exists());
    assert!(!out.lines().any(|l| l.trim_start().starts_with("- build ")), "{out}");
    // The repository, its checked key and the pin of the key seen first.
    let repo =
        std::fs::read_to_string(root.join("etc/yum.repos.d/_copr:copr.fedorainfracloud.org:abn:amd-npu.repo")).unwrap();
    assert!(
        repo.contains(&format!("baseurl={}/results/abn/amd-npu/fedora-$releasever-$basearch/", server.base)),
        "{repo}"
    );
    let key = std::fs::read_to_string(root.join("etc/pki/rpm-gpg/copr-abn-amd-npu.asc")).unwrap();
    assert!(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"), "{key}");
    let pins = std::fs::read_to_string(root.join("var/lib/npu-setup/pins.json")).unwrap();
    assert!(pins.contains(&s.fpr), "{pins}");
    // The real rpm database in the tree holds the packages, signature-checked by dnf.
    let q = run(Command::new("rpm").arg("--root").arg(&root).args([
        "-q",
        "xrt-base",
        "xrt-npu",
        "xrt-plugin-amdxdna",
        "fastflowlm",
    ]));
    assert_eq!(q.lines().count(), 4, "{q}");
    assert!(run(Command::new("rpm").arg("--root").arg(&root).args(["-qa"])).contains("gpg-pubkey-"));

    // A second run installs nothing and touches nothing.
    let before = tree_digest(&root);
    let requests = server.hits().len();
    let (_, out, _) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert!(out.contains("Everything is in place: nothing to change."), "{out}");
    assert_eq!(server.hits().len(), requests, "no repository was asked again");
    assert!(before == tree_digest(&root), "the second run changed the tree");

    as_fixture(
        &root,
        "fedora44-72-fresh",
        ("usr/bin/rpm", "/usr/bin/rpm --root \"$NPU_SETUP_ROOT\""),
        "usr/bin/ldconfig",
    );
    assert_package_layers_pass(&root);
}

#[test]
fn a_bad_copr_is_named_and_nothing_is_half_installed() {
    let s = standins();
    let rpm_qa = |root: &Path| run(Command::new("rpm").arg("--root").arg(root).arg("-qa"));
    let repo_file = "etc/yum.repos.d/_copr:copr.fedorainfracloud.org:abn:amd-npu.repo";

    // Unreachable: the key cannot be fetched; nothing is written.
    let (tmp, root) = offline_copy("fedora44-72-fresh");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = data_dir(tmp.path(), &format!("http://127.0.0.1:{closed}"), |t| t);
    let (code, out, _) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("install failed: [repos] repository COPR abn/amd-npu: fetching its signing key"), "{out}");
    assert!(out.contains(&format!("http://127.0.0.1:{closed}/results/abn/amd-npu/pubkey.gpg")), "{out}");
    assert!(!root.join(repo_file).exists() && !root.join("etc/pki/rpm-gpg").exists());

    // The wrong key: refused with both fingerprints; nothing is written.
    let server = serve(s.srv.clone());
    let (tmp, root) = offline_copy("fedora44-72-fresh");
    let other = s.other_fpr.clone();
    let data = data_dir(tmp.path(), &server.base, |t| {
        t.replacen(
            "      path: \"etc/pki/rpm-gpg/copr-abn-amd-npu.asc\"",
            &format!("      fingerprint: \"{other}\"\n      path: \"etc/pki/rpm-gpg/copr-abn-amd-npu.asc\""),
            1,
        )
    });
    let (code, out, _) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("repository COPR abn/amd-npu: the key from {}/results/abn/amd-npu/pubkey.gpg has fingerprint {}, but recipes/routes.yaml says {other}: refusing it; nothing was written", server.base, s.fpr)),
        "{out}"
    );
    assert!(!root.join(repo_file).exists() && !root.join("etc/pki/rpm-gpg").exists());

    // A package the repository does not have: dnf resolves the whole transaction first, so
    // nothing of it is installed; the error names the package.
    let missing = serve(s.srv_missing.clone());
    let (tmp, root) = offline_copy("fedora44-72-fresh");
    local_fedora_repos(&root, &missing.base);
    let data = data_dir(tmp.path(), &missing.base, |t| t);
    let (code, out, _) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("install failed: [packages]") && out.contains("fastflowlm"), "{out}");
    assert!(!rpm_qa(&root).contains("xrt-base"), "{}", rpm_qa(&root));

    // Metadata that is not there (the key is): `dnf makecache` fails naming the repository.
    let empty = tempfile::tempdir().unwrap();
    write(
        &empty.path().join("results/abn/amd-npu/pubkey.gpg"),
        std::fs::read(s.srv.join("results/abn/amd-npu/pubkey.gpg")).unwrap(),
        0o644,
    );
    let nometa = serve(empty.path().to_path_buf());
    let (tmp, root) = offline_copy("fedora44-72-fresh");
    local_fedora_repos(&root, &server.base);
    let data = data_dir(tmp.path(), &nometa.base, |t| t);
    let (code, out, _) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("makecache") && out.contains("copr:copr.fedorainfracloud.org:abn:amd-npu"), "{out}");
    assert!(!rpm_qa(&root).contains("xrt-base"));
}

#[test]
fn pacman_installs_arch_extra_into_an_offline_root_and_doctor_passes_the_package_layers() {
    let s = standins();
    let server = serve(s.srv.clone());
    let (tmp, root) = offline_copy("arch-72-fresh");
    // The distro's own repositories, served here; the stand-ins are unsigned, so this test's
    // pacman.conf does not check signatures (the route adds no repository or key of ours:
    // [extra] is Arch's, signed by the Arch keyring on a real host).
    // CheckSpace reads the mount table, which this scratch tree (no /proc) has none of.
    let conf = std::fs::read_to_string(root.join("etc/pacman.conf"))
        .unwrap()
        .replace(
            "SigLevel    = Required DatabaseOptional",
            "# npu-setup tests: stand-in packages, no Arch keyring here\nSigLevel    = Never",
        )
        .replace("CheckSpace\n", "# CheckSpace: no mount table in this scratch tree\n");
    write(&root.join("etc/pacman.conf"), conf, 0o644);
    write(&root.join("etc/pacman.d/mirrorlist"), format!("Server = {}/$repo/os/$arch\n", server.base), 0o644);
    std::fs::create_dir_all(root.join("var/lib/pacman")).unwrap();
    let data = data_dir(tmp.path(), &server.base, |t| t);
    let (n, _) = planned(&root, &data, &["--only", ROUTE_STEPS]);

    let (code, out, secs) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert!(matches!(code, 0 | 1), "{out}");
    assert!(!out.contains("install failed"), "{out}");
    eprintln!(
        "[routes] arch / [extra]: {n} actions planned, {} carried out, installed in {secs:.1}s",
        journal_len(&root)
    );
    let r = root.display().to_string();
    // One transaction: refresh, upgrade, install (Arch supports no partial upgrade).
    assert!(
        out.contains(&format!("run: pacman --sysroot {r} -Syu --needed --noconfirm xrt xrt-plugin-amdxdna fastflowlm")),
        "{out}"
    );
    let q =
        run(Command::new("pacman").arg("--root").arg(&root).args(["-Q", "xrt", "xrt-plugin-amdxdna", "fastflowlm"]));
    assert_eq!(q.lines().count(), 3, "{q}");
    assert!(!root.join("var/cache/npu-setup/src").exists());

    let before = tree_digest(&root);
    let (_, out, _) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert!(out.contains("Everything is in place: nothing to change."), "{out}");
    assert!(before == tree_digest(&root), "the second run changed the tree");

    as_fixture(
        &root,
        "arch-72-fresh",
        ("usr/bin/pacman", "/usr/bin/pacman --root \"$NPU_SETUP_ROOT\""),
        "usr/bin/ldconfig",
    );
    assert_package_layers_pass(&root);
}

#[test]
fn apt_installs_the_ppa_route_inside_a_debootstrap_chroot_and_doctor_passes_the_package_layers() {
    assert!(
        Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0"),
        "needs root (chroot): run the suite as root, as .ci/run does"
    );
    let s = standins();
    let server = serve(s.srv.clone());
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("sysimage");
    std::fs::create_dir_all(&r).unwrap();
    run(Command::new("tar").arg("-xf").arg(crate::kickstart::base_tar()).arg("-C").arg(&r));
    // The Ubuntu host's tree over the Debian userland, minus the fixture's replay shims: the
    // real dpkg, apt, gpg and ldconfig of the userland run here.
    let fx = fixture("ubuntu2404-617-fresh");
    let shims = ["usr/bin", "usr/sbin"];
    for e in std::fs::read_dir(&fx).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == ".fixture.yaml" || name == "usr" {
            continue;
        }
        let dst = r.join(&name);
        if std::fs::symlink_metadata(&dst).is_ok_and(|m| m.file_type().is_symlink()) {
            run(Command::new("cp").arg("-a").arg(e.path().join(".")).arg(format!("{}/", dst.display())));
        } else {
            run(Command::new("cp").arg("-a").arg(e.path()).arg(&r));
        }
    }
    for d in std::fs::read_dir(fx.join("usr")).unwrap() {
        let d = d.unwrap();
        if !shims.contains(&format!("usr/{}", d.file_name().to_string_lossy()).as_str()) {
            run(Command::new("cp").arg("-a").arg(d.path()).arg(r.join("usr")));
        }
    }
    // No network here: only this test's repositories (the 24.04 route needs only the PPA).
    let _ = std::fs::remove_file(r.join("etc/apt/sources.list"));
    let _ = std::fs::remove_file(r.join("etc/apt/sources.list.d/ubuntu.sources"));
    let data = data_dir(tmp.path(), &server.base, |t| t);
    run(Command::new("cp").arg("-a").arg(&data).arg(r.join("npu-setup-data")));
    std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
    run(Command::new("cp").arg(env!("CARGO_BIN_EXE_npu-setup")).arg(r.join("usr/local/bin/npu-setup")));
    let npu = |extra: &[&str]| {
        let mut a = vec!["/usr/local/bin/npu-setup", "--color", "never", "--data-dir", "/npu-setup-data", "install"];
        a.extend_from_slice(extra);
        let started = Instant::now();
        let (code, out) = crate::kickstart::in_chroot(&r, &a);
        (code, out, started.elapsed().as_secs_f64())
    };
    let (code, plan, _) = npu(&["--dry-run", "--only", ROUTE_STEPS]);
    assert_eq!(code, 0, "{plan}");
    let n: usize = plan
        .lines()
        .find_map(|l| l.strip_prefix("dry run: ")?.split("planned ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{plan}"));

    let (code, out, secs) = npu(&["--yes", "--only", ROUTE_STEPS]);
    assert!(matches!(code, 0 | 1), "{out}");
    assert!(!out.contains("install failed"), "{out}");
    eprintln!(
        "[routes] ubuntu 24.04 / PPA (apt in a chroot): {n} actions planned, {} carried out, installed in {secs:.1}s",
        journal_len(&r)
    );
    assert!(out.contains("run: apt-get update"), "{out}");
    assert!(out.contains("run: apt-get install -y amdxdna-dkms libxrt2 libxrt-npu2 libxrt-utils lemonade-server /var/cache/npu-setup/fastflowlm_1.0.5_ubuntu24.04_amd64.deb"), "{out}");
    let sources =
        std::fs::read_to_string(r.join("etc/apt/sources.list.d/lemonade-team-ubuntu-stable.sources")).unwrap();
    assert!(
        sources.contains("Suites: noble\n")
            && sources.contains("Signed-By: /etc/apt/keyrings/lemonade-team-stable.asc\n"),
        "{sources}"
    );
    assert!(
        std::fs::read_to_string(r.join("etc/apt/keyrings/lemonade-team-stable.asc"))
            .unwrap()
            .contains("BEGIN PGP PUBLIC KEY BLOCK")
    );
    let q = run(Command::new("dpkg-query").arg(format!("--admindir={}/var/lib/dpkg", r.display())).args([
        "-W",
        "-f",
        "${Package} ${db:Status-Abbrev}\n",
        "amdxdna-dkms",
        "libxrt2",
        "libxrt-npu2",
        "libxrt-utils",
        "lemonade-server",
        "fastflowlm",
    ]));
    assert_eq!(q.lines().filter(|l| l.ends_with("ii ")).count(), 6, "{q}");
    assert!(r.join("lib/firmware/updates/amdnpu/17f0_11/npu_7.sbin").exists(), "the driver package's firmware");

    let (_, out, _) = npu(&["--yes", "--only", ROUTE_STEPS]);
    assert!(out.contains("Everything is in place: nothing to change."), "{out}");

    // Doctor in fixture mode: the fixture's replays for what cannot exist, the tree's dpkg
    // database and loader cache for the package layers.
    for d in shims {
        run(Command::new("cp").arg("-a").arg(fx.join(d)).arg(r.join("usr")));
    }
    as_fixture(
        &r,
        "ubuntu2404-617-fresh",
        ("usr/bin/dpkg-query", "/usr/bin/dpkg-query --admindir=\"$NPU_SETUP_ROOT/var/lib/dpkg\""),
        "usr/sbin/ldconfig",
    );
    assert_package_layers_pass(&r);
}

#[test]
fn dry_runs_on_fresh_hosts_show_the_packaged_route_and_from_source_the_builds() {
    let cases = [
        ("fedora44-72-fresh", "dnf install -y xrt-base xrt-npu xrt-plugin-amdxdna fastflowlm"),
        (
            "ubuntu2404-617-fresh",
            "apt-get install -y amdxdna-dkms libxrt2 libxrt-npu2 libxrt-utils lemonade-server <root>/var/cache/npu-setup/fastflowlm_1.0.5_ubuntu24.04_amd64.deb",
        ),
        (
            "ubuntu2604-70-fresh",
            "apt-get install -y libxrt2 libxrt-npu2 libxrt-utils lemonade-server <root>/var/cache/npu-setup/fastflowlm_1.0.5_ubuntu26.04_amd64.deb",
        ),
        ("arch-72-fresh", "pacman -Syu --needed --noconfirm xrt xrt-plugin-amdxdna fastflowlm"),
    ];
    for (name, install_line) in cases {
        let root = fixture(name);
        let digest = tree_digest(&root);
        let out = bin().arg("--root").arg(&root).args(["install", "--dry-run", "--user", "alice"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        let text = String::from_utf8_lossy(&out.stdout).replace(root.to_str().unwrap(), "<root>");
        assert!(text.contains(&format!("run: {install_line}")), "{name}:\n{text}");
        for idle in ["[build-deps]", "[sources]", "[xrt]", "[driver]", "[flm]"] {
            let line = text.lines().find(|l| l.starts_with(idle)).unwrap();
            assert!(line.ends_with("nothing to do"), "{name}: {line}");
        }
        // The routes the plan states, from [repos] to the build steps.
        let section: String = text
            .lines()
            .skip_while(|l| !l.starts_with("[repos]"))
            .take_while(|l| !l.starts_with("[build-deps]"))
            .map(|l| format!("{l}\n"))
            .collect();
        insta::assert_snapshot!(format!("routes-dry-run-{name}"), section);
        assert_eq!(digest, tree_digest(&root), "{name}: a dry run changes nothing");

        let out = bin()
            .arg("--root")
            .arg(&root)
            .args(["install", "--dry-run", "--user", "alice", "--from", "source"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.lines().any(|l| l.starts_with("[repos]") && l.ends_with("nothing to do")), "{name}:\n{text}");
        assert!(text.lines().any(|l| l.starts_with("[packages]") && l.ends_with("nothing to do")), "{name}:\n{text}");
        assert!(text.contains("note: xrt: source build — --from source"), "{name}:\n{text}");
        // The builds are in the plan before anything runs, each with its commands.
        for (step, build) in [("[xrt]", "build xrt in "), ("[flm]", "build flm in ")] {
            let line = text.lines().find(|l| l.starts_with(step)).unwrap();
            assert!(!line.ends_with("nothing to do"), "{name}: {line}");
            assert!(text.contains(build), "{name}:\n{text}");
        }
    }
}

#[test]
fn a_ppa_signed_by_another_key_is_refused_naming_both_fingerprints() {
    let s = standins();
    let server = serve(s.srv.clone());
    let (tmp, root) = offline_copy("ubuntu2404-617-fresh");
    // recipes/routes.yaml pins the PPA's fingerprint; the keyserver hands out another key.
    let other = s.other_fpr.clone();
    let data = data_dir(tmp.path(), &server.base, |t| t.replace(&s.fpr, &other));
    let (code, out, _) = install(&root, &data, &["--yes", "--only", "repos"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("install failed: [repos] repository PPA lemonade-team/stable:"), "{out}");
    assert!(out.contains(&format!("has fingerprint {}", s.fpr)) && out.contains(&other), "{out}");
    assert!(!root.join("etc/apt/sources.list.d/lemonade-team-ubuntu-stable.sources").exists());
    assert!(!root.join("etc/apt/keyrings/lemonade-team-stable.asc").exists());
}

#[test]
fn a_package_missing_from_extra_is_named_and_nothing_is_installed() {
    let s = standins();
    // [extra] without fastflowlm: a copy of the served tree, the package removed from the
    // database with the real repo-remove.
    let srv = tempfile::tempdir().unwrap();
    run(Command::new("cp").arg("-a").arg(s.srv.join("core")).arg(s.srv.join("extra")).arg(srv.path()));
    run(Command::new("repo-remove")
        .arg("-q")
        .arg(srv.path().join("extra/os/x86_64/extra.db.tar.gz"))
        .arg("fastflowlm"));
    let server = serve(srv.path().to_path_buf());
    let (tmp, root) = offline_copy("arch-72-fresh");
    let conf = std::fs::read_to_string(root.join("etc/pacman.conf"))
        .unwrap()
        .replace("SigLevel    = Required DatabaseOptional", "SigLevel    = Never")
        .replace("CheckSpace\n", "");
    write(&root.join("etc/pacman.conf"), conf, 0o644);
    write(&root.join("etc/pacman.d/mirrorlist"), format!("Server = {}/$repo/os/$arch\n", server.base), 0o644);
    std::fs::create_dir_all(root.join("var/lib/pacman")).unwrap();
    let data = data_dir(tmp.path(), &server.base, |t| t);
    let (code, out, _) = install(&root, &data, &["--yes", "--only", ROUTE_STEPS]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("install failed: [packages]") && out.contains("target not found: fastflowlm"), "{out}");
    // pacman resolves the whole transaction first: none of the route's packages is in.
    let q = Command::new("pacman").arg("--root").arg(&root).args(["-Q", "xrt"]).output().unwrap();
    assert!(!q.status.success(), "{}", String::from_utf8_lossy(&q.stdout));
}
