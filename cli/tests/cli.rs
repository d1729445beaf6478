//! The `kvscope` binary: listing, describing, running, and refusing bad input.

use std::process::Command;

fn kvscope(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kvscope"))
        .args(args)
        .output()
        .expect("kvscope runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lists_and_describes_scenarios() {
    let (code, out, _) = kvscope(&["scenarios"]);
    assert_eq!(code, 0);
    assert!(out
        .lines()
        .any(|l| l.starts_with("io-hang-transfer-leader")));
    let (code, out, _) = kvscope(&["describe", "io-hang-transfer-leader"]);
    assert_eq!(code, 0);
    for name in [
        "hang_store",
        "hang_start",
        "hang_duration",
        "fix",
        "relaxed-check",
        "disk_latency",
        "clients",
    ] {
        assert!(out.contains(name), "describe lists {name}");
    }
}

#[test]
fn run_json_is_one_object_with_the_documented_fields() {
    let (code, out, err) = kvscope(&[
        "run",
        "io-hang-transfer-leader",
        "--seed",
        "3",
        "--until",
        "80s",
        "--set",
        "hang_start=31s",
        "--set",
        "peer_move_at=32s",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("exactly one JSON object");
    for key in [
        "scenario",
        "seed",
        "params",
        "until_ms",
        "events",
        "wall_ms",
        "trace_hash",
        "series",
        "counters",
        "log",
        "violations",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["seed"], 3);
    assert_eq!(v["until_ms"], 80_000);
    assert_eq!(v["params"]["hang_start"], 31_000);
    assert_eq!(v["params"]["fix"], "none");
    assert_eq!(v["series"]["qps"].as_array().unwrap().len(), 80);
    assert!(
        v["counters"]["transfer_leader_rejected_pending_conf"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let line = &v["log"][0];
    for key in ["t_ms", "store", "region", "level", "msg"] {
        assert!(line.get(key).is_some(), "log line lacks {key}");
    }
}

#[test]
fn bad_input_exits_2_naming_the_culprit() {
    for (args, needle) in [
        (vec!["run", "no-such-scenario"], "no-such-scenario"),
        (vec!["describe", "no-such-scenario"], "no-such-scenario"),
        (
            vec!["run", "io-hang-transfer-leader", "--set", "bogus=1"],
            "bogus",
        ),
        (
            vec!["run", "io-hang-transfer-leader", "--set", "fix=maybe"],
            "fix",
        ),
        (
            vec!["run", "io-hang-transfer-leader", "--set", "stores=99"],
            "stores",
        ),
        (
            vec!["run", "io-hang-transfer-leader", "--set", "hang_store=5"],
            "hang_store",
        ),
        (
            vec!["run", "io-hang-transfer-leader", "--set", "noequals"],
            "noequals",
        ),
        (
            vec!["run", "io-hang-transfer-leader", "--until", "5x"],
            "5x",
        ),
    ] {
        let (code, _, err) = kvscope(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
