//! Queue depth over time, for the HTML report's line chart.
//!
//! Contract: pure; [`History::parse`] takes the text of one file and
//! returns the depth of each queue state at each time, or the first bad
//! line as an [`Error`] (`line:col: what`; the caller adds the file name).
//! Two formats are read, told apart by their content:
//!
//! * JSON lines as `mxgate health --json` prints them (a cron job appends
//!   one every few minutes): `time` (seconds since the epoch) and
//!   `queues: [{state, count}, ...]`. A line without `queues` (health
//!   answered UNKNOWN: no spool, no configuration) is a gap, not an error;
//!   blank lines are skipped. A line without `time` (an mxgate from before
//!   the field) is an error, as is anything that is not such an object.
//! * A Prometheus `/api/v1/query_range` answer (one JSON document,
//!   `resultType` `matrix`) for `mxgate_queue_messages`, raw or
//!   `sum by (state) (...)`: series are summed per `state` label (the raw
//!   metric has one series per age bucket); a series without `state` counts
//!   under `all`.

use serde_json::Value;
use std::collections::BTreeMap;

/// Depth by state over time.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct History {
    /// State (`queue`, `hold`, `quarantine`) → (seconds since the epoch,
    /// messages), oldest first.
    pub series: BTreeMap<String, Vec<(u64, u64)>>,
}

/// The first bad line of a history file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What was wrong, and what was expected.
    pub what: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.what)
    }
}

impl std::error::Error for Error {}

impl History {
    /// Read health JSON lines or a Prometheus range answer.
    pub fn parse(text: &str) -> Result<History, Error> {
        if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(text)
            && doc.contains_key("data")
        {
            return prometheus(&doc, text);
        }
        let mut h = History::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |col: usize, what: String| Error {
                line: i + 1,
                col,
                what,
            };
            let v: Value = serde_json::from_str(line).map_err(|e| {
                // serde's text ends in " at line L column C": ours leads.
                let text = e.to_string();
                let text = text.split(" at line ").next().unwrap_or("");
                bad(
                    e.column().max(1),
                    format!("{text} (expected one `mxgate health --json` object per line)"),
                )
            })?;
            let Value::Object(o) = v else {
                return Err(bad(1, "expected a JSON object".into()));
            };
            let Some(time) = o.get("time").and_then(Value::as_u64) else {
                return Err(bad(
                    1,
                    "no \"time\" (seconds since the epoch): not an `mxgate health --json` line of this version".into(),
                ));
            };
            let Some(queues) = o.get("queues") else {
                continue; // UNKNOWN: no spool to count
            };
            let Some(queues) = queues.as_array() else {
                return Err(bad(1, "\"queues\" is not an array".into()));
            };
            for q in queues {
                let state = q.get("state").and_then(Value::as_str);
                let count = q.get("count").and_then(Value::as_u64);
                let (Some(state), Some(count)) = (state, count) else {
                    return Err(bad(
                        1,
                        format!("queue entry {q}: expected {{\"state\": NAME, \"count\": N}}"),
                    ));
                };
                h.push(state, time, count);
            }
        }
        h.sort();
        Ok(h)
    }

    /// Add `other`'s points (a second file).
    pub fn merge(&mut self, other: History) {
        for (state, points) in other.series {
            self.series.entry(state).or_default().extend(points);
        }
        self.sort();
    }

    /// No point at all.
    pub fn is_empty(&self) -> bool {
        self.series.values().all(Vec::is_empty)
    }

    fn push(&mut self, state: &str, time: u64, count: u64) {
        if !self.series.contains_key(state) {
            self.series.insert(state.to_string(), Vec::new());
        }
        if let Some(v) = self.series.get_mut(state) {
            v.push((time, count));
        }
    }

    /// Order by time; points of one state at one time are summed.
    fn sort(&mut self) {
        for v in self.series.values_mut() {
            v.sort_by_key(|p| p.0);
            let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
            for (t, n) in v.drain(..) {
                match out.last_mut() {
                    Some(last) if last.0 == t => last.1 += n,
                    _ => out.push((t, n)),
                }
            }
            *v = out;
        }
    }
}

/// The line and column of the `nth` (0-based) occurrence of `needle`, or
/// of the start (for errors inside a parsed document).
fn position(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let at = text.match_indices(needle).nth(nth).map_or(0, |(i, _)| i);
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(at, |n| at - n - 1) + 1;
    (line, col)
}

fn prometheus(doc: &serde_json::Map<String, Value>, text: &str) -> Result<History, Error> {
    let err_nth = |needle: &str, nth: usize, what: String| {
        let (line, col) = position(text, needle, nth);
        Error { line, col, what }
    };
    let err = |needle: &str, what: String| {
        let (line, col) = position(text, needle, 0);
        Error { line, col, what }
    };
    match doc.get("status").and_then(Value::as_str) {
        Some("success") => {}
        other => {
            let why = doc.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(err(
                "\"status\"",
                format!("Prometheus answered status {other:?} {why}"),
            ));
        }
    }
    let data = doc.get("data");
    let kind = data
        .and_then(|d| d.get("resultType"))
        .and_then(Value::as_str);
    if kind != Some("matrix") {
        return Err(err(
            "\"resultType\"",
            format!("resultType {kind:?}: expected \"matrix\" (a /api/v1/query_range answer)"),
        ));
    }
    let Some(result) = data.and_then(|d| d.get("result")).and_then(Value::as_array) else {
        return Err(err("\"result\"", "data.result is not an array".into()));
    };
    let mut h = History::default();
    for (i, series) in result.iter().enumerate() {
        let metric = series.get("metric");
        if let Some(name) = metric
            .and_then(|m| m.get("__name__"))
            .and_then(Value::as_str)
            && name != crate::metrics::QUEUE_MESSAGES
        {
            return Err(err(
                name,
                format!(
                    "series {name}: expected {} (query it, or sum by (state) of it)",
                    crate::metrics::QUEUE_MESSAGES
                ),
            ));
        }
        let state = metric
            .and_then(|m| m.get("state"))
            .and_then(Value::as_str)
            .unwrap_or("all");
        let Some(values) = series.get("values").and_then(Value::as_array) else {
            return Err(err_nth(
                "\"metric\"",
                i,
                format!("data.result[{i}].values is not an array"),
            ));
        };
        for (j, v) in values.iter().enumerate() {
            let t = v.get(0).and_then(Value::as_f64);
            let n = v
                .get(1)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<f64>().ok());
            let (Some(t), Some(n)) = (t, n) else {
                return Err(err_nth(
                    "\"values\"",
                    i,
                    format!("data.result[{i}].values[{j}] = {v}: expected [TIME, \"VALUE\"]"),
                ));
            };
            if !(t.is_finite() && t >= 0.0 && n.is_finite() && n >= 0.0) {
                return Err(err_nth(
                    "\"values\"",
                    i,
                    format!("data.result[{i}].values[{j}] = {v}: out of range"),
                ));
            }
            // Whole seconds and whole messages: the gauge counts files.
            h.push(state, t as u64, n.round() as u64);
        }
    }
    h.sort();
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_lines_with_a_gap_and_a_blank_line() {
        let text = concat!(
            r#"{"time":1000,"status":"OK","queues":[{"state":"queue","count":3,"oldest_seconds":5},{"state":"hold","count":0,"oldest_seconds":0}]}"#,
            "\n\n",
            r#"{"time":1300,"status":"UNKNOWN","code":3,"reasons":["no spool"]}"#,
            "\n",
            r#"{"time":1600,"status":"WARNING","queues":[{"state":"queue","count":7,"oldest_seconds":5},{"state":"hold","count":1,"oldest_seconds":0}]}"#,
            "\n",
        );
        let h = History::parse(text).unwrap();
        assert_eq!(h.series["queue"], vec![(1000, 3), (1600, 7)]);
        assert_eq!(h.series["hold"], vec![(1000, 0), (1600, 1)]);
        assert!(!h.is_empty());
    }

    #[test]
    fn bad_lines_name_line_and_column() {
        let good = r#"{"time":1000,"queues":[]}"#;
        let e = History::parse(&format!("{good}\n{{\"time\": 12,,}}\n")).unwrap_err();
        assert_eq!((e.line, e.col), (2, 13), "{e}");
        let e = History::parse(&format!("{good}\n{good}\n{{\"queues\":[]}}\n")).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().starts_with("3:1: no \"time\""), "{e}");
        let e = History::parse("[1,2]\n").unwrap_err();
        assert_eq!(e.to_string(), "1:1: expected a JSON object");
        let e = History::parse(r#"{"time":1,"queues":[{"state":"queue"}]}"#).unwrap_err();
        assert!(e.what.contains("expected {\"state\""), "{e}");
    }

    #[test]
    fn prometheus_range_answer_is_summed_per_state() {
        // The shape of Prometheus's documented /api/v1/query_range answer,
        // for the raw metric (one series per state and age bucket).
        let text = r#"{
  "status": "success",
  "data": {
    "resultType": "matrix",
    "result": [
      {"metric": {"__name__": "mxgate_queue_messages", "state": "queue", "age": "5m"},
       "values": [[1700000000, "2"], [1700000300.5, "4"]]},
      {"metric": {"__name__": "mxgate_queue_messages", "state": "queue", "age": "1h"},
       "values": [[1700000000, "1"], [1700000300.5, "0"]]},
      {"metric": {"__name__": "mxgate_queue_messages", "state": "hold", "age": "5m"},
       "values": [[1700000000, "0"]]}
    ]
  }
}"#;
        let h = History::parse(text).unwrap();
        assert_eq!(
            h.series["queue"],
            vec![(1_700_000_000, 3), (1_700_000_300, 4)]
        );
        assert_eq!(h.series["hold"], vec![(1_700_000_000, 0)]);
        let bad = text.replace("\"0\"]]}", "\"zero\"]]}");
        let e = History::parse(&bad).unwrap_err();
        assert!(e.what.contains("data.result[1].values[1]"), "{e}");
        assert_eq!(e.line, 9, "{e}");
        let e = History::parse(r#"{"status":"error","error":"bad query","data":{}}"#).unwrap_err();
        assert!(e.what.contains("bad query"), "{e}");
        let e =
            History::parse(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)
                .unwrap_err();
        assert!(e.what.contains("matrix"), "{e}");
    }
}
