//! `knowledge::secureboot`: will the kernel load the module under Secure Boot.

use super::*;
use crate::knowledge::analysis::Analysis;
use crate::knowledge::secureboot::{Signing, key_enrolled, signing};

fn verdict(h: &Host, rejected_in_log: bool) -> Signing {
    let a = Analysis::new(h, recipes());
    signing(h, a.running_flavour(h), rejected_in_log)
}

fn point_on() -> Host {
    Host::point_dkms().secure_boot(Some(true))
}

#[test]
fn signing_verdicts() {
    assert_eq!(verdict(&Host::halo().probe_skipped("secureboot", "offline root"), false), Signing::NotProbed);
    assert_eq!(verdict(&Host::halo(), false), Signing::Off);
    assert_eq!(verdict(&Host::halo().secure_boot(None), false), Signing::StateUnknown("mokutil --sb-state".into()));
    assert_eq!(verdict(&Host::halo().secure_boot(Some(true)).no_module(), false), Signing::NoModule);
    assert_eq!(verdict(&Host::halo().secure_boot(Some(true)), false), Signing::InTree);
    assert_eq!(verdict(&point_on().modinfo(None), false), Signing::NoModinfo);
    assert_eq!(verdict(&point_on().module_signer(None), false), Signing::Unsigned);
    let unknown = point_on().with(|f| f.secureboot.ok_mut().enrolled_error = Some("no EFI".into()));
    let signer = || "DKMS module signing key".to_string();
    assert_eq!(verdict(&unknown, false), Signing::EnrolmentUnknown { signer: signer(), error: "no EFI".into() });
    assert_eq!(verdict(&point_on(), false), Signing::NotEnrolled { signer: signer() });
    let enrolled = point_on().enrolled_key("CN=DKMS module signing key", DKMS_KEY);
    assert_eq!(verdict(&enrolled, false), Signing::Enrolled { signer: signer() });
    assert_eq!(verdict(&enrolled, true), Signing::NotEnrolled { signer: signer() }, "the log's rejection wins");
}

#[test]
fn only_unsigned_and_unenrolled_modules_fail() {
    assert!(Signing::Unsigned.fails());
    assert!(Signing::NotEnrolled { signer: "x".into() }.fails());
    for s in [Signing::Off, Signing::InTree, Signing::NoModinfo, Signing::StateUnknown("x".into())] {
        assert!(!s.fails(), "{s:?}");
    }
}

#[test]
fn a_key_is_enrolled_by_subject_key_id_or_by_signer_name() {
    let sb = point_on()
        .enrolled_key("CN=host", "8104c756b42123 4884acb0ebe8220bf0d640998d")
        .secureboot
        .ok()
        .unwrap()
        .clone();
    assert!(key_enrolled(&sb, "DKMS module signing key", Some(DKMS_KEY)), "hex compared without case and colons");
    assert!(!key_enrolled(&sb, "DKMS module signing key", Some("AA:BB")));
    let sb = point_on().enrolled_key("O=Acme, CN=DKMS module signing key", "00").secureboot.ok().unwrap().clone();
    assert!(key_enrolled(&sb, "DKMS module signing key", None));
}
