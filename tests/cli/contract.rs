//! The output and write contract every command keeps: read-only commands write nothing into
//! the root they judge (a checked-in fixture tree here, compared by digest before and after).

use crate::{bin, fixture, tree_digest};

#[test]
fn read_only_commands_write_nothing_into_a_fixture_tree() {
    let root = fixture("fedora44-71-intree-healthy");
    let before = tree_digest(&root);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{port}/health");
    let commands: &[&[&str]] = &[
        &["doctor"],
        &["--format", "json", "doctor", "--smoke"],
        &["check"],
        &["check", "--kernel", "7.1.4-200.fc44.x86_64"],
        &["check", "--hook", "--kernel", "7.1.4-200.fc44.x86_64"],
        &["bench", "--only", "gpu", "--runs", "1", "--gpu-url", &dead, "--gpu-model", "m"],
        &["status"],
        &["recipes", "show"],
        &["install", "--dry-run"],
        &["undo", "--dry-run"],
        &["config", "litellm", "--npu-model", "a", "--gpu-model", "b", "--gpu-url", &dead],
    ];
    for args in commands {
        let out = bin().arg("--root").arg(&root).args(*args).output().unwrap();
        assert!(out.status.code().is_some(), "{args:?}");
        assert_eq!(tree_digest(&root), before, "{args:?} wrote into the fixture tree");
    }
}
