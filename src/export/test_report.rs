//! A small hand-made report for the exporters' unit tests.

use crate::report::*;
use std::collections::BTreeMap;

fn scenario(flag: bool, lost_open: u64, verdict: Verdict) -> ScenarioReport {
    let mut lost_by_stage = BTreeMap::new();
    for s in Stage::ALL {
        lost_by_stage.insert(s.name().into(), 0);
    }
    lost_by_stage.insert("open_bucket".into(), lost_open);
    ScenarioReport {
        name: format!(
            "stop=end flag={} drain=auto",
            if flag { "on" } else { "off" }
        ),
        stop: StopInfo {
            spec: "end".into(),
            after_packets: 10,
            stream_time_s: 12.5,
            bucket_phase_s: 2.5,
        },
        settings: SettingsInfo {
            flush_incomplete_buckets: flag,
            batcher_drain: "auto".into(),
        },
        expectation: if flag {
            Expectation::ZeroLoss
        } else {
            Expectation::Loss
        },
        counts: Counts {
            sent: 100,
            rejected: 3,
            flushed: 97 - lost_open,
            lost: lost_open,
            lost_by_stage,
            ..Counts::default()
        },
        verdict,
        examples: Vec::new(),
        reasons: vec!["a <reason> & more".into()],
        accounting_errors: Vec::new(),
        held_at_stop: HeldAtStop::default(),
        stage_counters: serde_json::Value::Null,
        socket: None,
        server: None,
    }
}

pub fn report() -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        shard: None,
        source: SourceInfo {
            kind: "generated".into(),
            description: "gen:seed=1|x".into(),
            packets: 10,
            lines: 40,
            samples: 100,
            truncated_at: None,
            read: None,
        },
        scenarios: vec![
            scenario(false, 7, Verdict::Pass),
            scenario(true, 7, Verdict::Fail),
        ],
        exit_code: 1,
    }
}
