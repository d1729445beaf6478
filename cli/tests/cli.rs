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
        (
            vec!["run", "io-hang-transfer-leader", "--at", "20s:stores=5"],
            "live parameters are: fix",
        ),
        (
            vec![
                "run",
                "io-hang-transfer-leader",
                "--until",
                "30s",
                "--at",
                "40s:fix=relaxed-check",
            ],
            "past the end of the run",
        ),
        (
            vec!["run", "io-hang-transfer-leader", "--at", "20s:fix=maybe"],
            "relaxed-check",
        ),
        (
            vec![
                "run",
                "io-hang-transfer-leader",
                "--at",
                "fix=relaxed-check",
            ],
            "TIME:NAME=VALUE",
        ),
        (
            vec!["run", "io-hang-transfer-leader", "--at", "10s:crash=9/5s"],
            "no store 9",
        ),
        (
            vec!["run", "deadlock-detector-oom", "--at", "10s:txns=lots"],
            "txns",
        ),
    ] {
        let (code, _, err) = kvscope(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// The run's trace hash and applied inputs for `args` after `run SCENARIO`.
fn hash_and_inputs(args: &[&str]) -> (String, Vec<String>) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.push("--json");
    let (code, out, err) = kvscope(&all);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let inputs = v["inputs"]
        .as_array()
        .expect("inputs is a list")
        .iter()
        .map(|i| i["text"].as_str().expect("text").to_string())
        .collect();
    (v["trace_hash"].as_str().expect("hash").to_string(), inputs)
}

#[test]
fn timed_inputs_are_applied_listed_and_hashed() {
    let base = ["deadlock-detector-oom", "--seed", "2", "--until", "8s"];
    let with = |at: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        for x in at {
            a.push("--at");
            a.push(x);
        }
        hash_and_inputs(&a)
    };
    let (h1, inputs) = with(&["3s:txns=50", "5s:fix=non-fair-noop", "6s:crash=3/1s"]);
    assert_eq!(
        inputs,
        vec!["3s:txns=50", "5s:fix=non-fair-noop", "6s:crash=3/1s"]
    );
    let (h2, _) = with(&["3s:txns=50", "5s:fix=non-fair-noop", "6s:crash=3/1s"]);
    assert_eq!(h1, h2, "the same inputs replay to the same trace");
    let (h3, _) = with(&["4s:txns=50", "5s:fix=non-fair-noop", "6s:crash=3/1s"]);
    assert_ne!(h1, h3, "an input at another time is another run");
    let (h4, none) = with(&[]);
    assert!(none.is_empty());
    assert_ne!(h1, h4);
}
